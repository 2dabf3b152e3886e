#!/usr/bin/env bash
# Installs what the command-line tool needs, builds it optimised and runs `sincehash demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh demo
cmake --workflow --preset release >/dev/null
./build/release/examples/sincehash demo "$@"
