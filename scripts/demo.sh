#!/usr/bin/env bash
# Installs what the command-line tool needs, builds it optimised and runs `sincehash demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh demo
log=$(mktemp)
if ! cmake --workflow --preset release >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
./build/release/examples/sincehash demo "$@"
