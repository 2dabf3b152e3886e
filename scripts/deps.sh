#!/usr/bin/env bash
# Installs the Debian packages sincehash needs, only those that are missing.
#   scripts/deps.sh demo   what building the command-line tool needs, with every back end
#                          whose client library Debian ships (no servers)
#   scripts/deps.sh test   that plus everything the test suite exercises
#   scripts/deps.sh ci     that plus the sanitizer, fuzzing and formatting tools
set -euo pipefail
profile=${1:-test}

demo=(cmake ninja-build g++ pkg-config nlohmann-json3-dev libxxhash-dev libsqlite3-dev libsimdjson-dev
      libcli11-dev libhiredis-dev libpq-dev libsodium-dev)
test=("${demo[@]}" doctest-dev libcpp-httplib-dev
      libhowardhinnant-date-dev python3 sqlite3 tzdata redis-server postgresql
      pybind11-dev python3-pybind11 python3-pytest python3-flask python3-venv)
ci=("${test[@]}" clang clang-format libclang-rt-14-dev libbenchmark-dev)

case "$profile" in
  demo) wanted=("${demo[@]}") ;;
  test) wanted=("${test[@]}") ;;
  ci) wanted=("${ci[@]}") ;;
  *) echo "usage: scripts/deps.sh demo|test|ci" >&2; exit 2 ;;
esac

missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
