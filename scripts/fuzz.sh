#!/usr/bin/env bash
# Builds every libFuzzer target (clang, ASan+UBSan) and runs each for a bounded
# time from its seed corpus in fuzz/corpus/<target>/ (copied, so the repo's
# corpus is not changed). Usage: scripts/fuzz.sh [seconds per target, default 60]
# Targets run side by side, one per core (SLUICE_FUZZ_JOBS overrides the count).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
jobs=${SLUICE_FUZZ_JOBS:-$(nproc)}
bash scripts/install-deps.sh
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target sluice_fuzzers  # the fuzzers only (the rest of the tree is built by gcc in the other steps)
work=build/fuzz/run
artifacts=build/fuzz/artifacts
mkdir -p "$work" "$artifacts"

# A fuzzer left running after Ctrl-C would keep a core busy: stop ours on the way out.
trap 'pids=$(jobs -pr); [[ -z "$pids" ]] || kill $pids 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM

# run_target NAME TARGET: one fuzzer for the set time; its exit status goes to run/NAME.status.
run_target() {
  local name=$1 target=$2 corpus="$work/$1" rc=0
  "$target" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/$name-" -print_final_stats=1 2>"$work/$name.log" || rc=$?
  echo "$rc" >"$work/$name.status"
}

names=()
for target in build/fuzz/fuzz/*_fuzz; do
  name=$(basename "$target")
  corpus="$work/$name"
  rm -rf "$corpus" "$work/$name.status" && mkdir -p "$corpus"
  [[ -d "fuzz/corpus/$name" ]] && cp -r "fuzz/corpus/$name/." "$corpus/"
  # Wait for a free slot: at most $jobs fuzzers at once, each with the full time.
  while (($(jobs -pr | wc -l) >= jobs)); do wait -n || true; done
  echo "fuzz: $name for ${seconds}s"
  run_target "$name" "$target" &
  names+=("$name")
done
wait

# Reported in target order, whichever finished first.
status=0
for name in "${names[@]}"; do
  if [[ "$(cat "$work/$name.status" 2>/dev/null)" != 0 ]]; then
    echo "fuzz: $name FAILED; last lines of its log:"
    tail -n 40 "$work/$name.log"
    status=1
  else
    echo "fuzz: $name passed"
    grep -E "stat::number_of_executed_units|Done" "$work/$name.log" | tail -n 2 || true
  fi
done
exit $status
