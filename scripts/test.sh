#!/usr/bin/env bash
# Installs what the tests need, builds the Debug configuration and runs every test (ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
cmake --workflow --preset dev
