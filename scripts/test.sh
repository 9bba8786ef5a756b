#!/usr/bin/env bash
# Quick start 2: install what is missing, build, and run every test.
#   scripts/test.sh            the release build (unit, interop tests; benchmarks built)
#   scripts/test.sh asan       the same tests under AddressSanitizer + UBSan
#   scripts/test.sh tsan       the same tests under ThreadSanitizer
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
case "$preset" in
  release|debug|asan|tsan) ;;
  *) echo "test.sh: unknown preset '$preset' (release, debug, asan, tsan)" >&2; exit 2 ;;
esac
bash scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
# Sanitizer reports are failures, with a stack to read.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
ctest --preset "$preset" -j2
