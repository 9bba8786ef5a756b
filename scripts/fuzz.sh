#!/usr/bin/env bash
# Builds every libFuzzer target (clang, ASan+UBSan) and runs each for a bounded
# time from its seed corpus in fuzz/corpus/<target>/ (copied, so the repo's
# corpus is not changed). Usage: scripts/fuzz.sh [seconds per target, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
bash scripts/install-deps.sh
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
work=build/fuzz/run
artifacts=build/fuzz/artifacts
mkdir -p "$work" "$artifacts"
status=0
for target in build/fuzz/fuzz/*_fuzz; do
  name=$(basename "$target")
  corpus="$work/$name"
  rm -rf "$corpus" && mkdir -p "$corpus"
  [[ -d "fuzz/corpus/$name" ]] && cp -r "fuzz/corpus/$name/." "$corpus/"
  echo "fuzz: $name for ${seconds}s"
  if ! "$target" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/$name-" -print_final_stats=1 2>"$work/$name.log"; then
    echo "fuzz: $name FAILED; last lines of its log:"
    tail -n 40 "$work/$name.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$work/$name.log" | tail -n 2 || true
  fi
done
exit $status
