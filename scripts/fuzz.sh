#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for SECONDS (default 60) on its
# committed seed corpus, in a scratch copy so the committed corpus stays as it is. Every fuzzer
# runs even when an earlier one fails; a crashing input is kept under build/fuzz/artifacts/ and
# the script then exits non-zero.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts=build/fuzz/artifacts
mkdir -p "$artifacts"
failed=()
for fuzzer in build/fuzz/tests/fuzz/fuzz_*; do
  [ -x "$fuzzer" ] || continue
  name=$(basename "$fuzzer")
  topic=${name#fuzz_}
  mkdir -p "$work/$topic"
  seeds=tests/fuzz/corpus/$topic
  echo "== $name for ${seconds}s"
  status=0
  "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$name-" "$work/$topic" $( [ -d "$seeds" ] && echo "$seeds" ) \
    >"$work/$name.log" 2>&1 || status=$?
  tail -n 12 "$work/$name.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log")
  echo "$name: ${execs:-0} executions, exit status $status"
  [ "$status" -eq 0 ] || failed+=("$name")
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]} (inputs in $artifacts)"
  exit 1
fi
echo "fuzzing: no crash"
