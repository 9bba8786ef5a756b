#!/usr/bin/env bash
# HTTP publish and replay benchmarks of `sluice serve` (docs/benchmarks.md, "Other benchmarks"):
#   publish  wrk POSTing /v1/events on keep-alive connections (bench/http/publish.lua),
#            `--store memory` and the durable sqlite store (default fsync policy)
#   replay   100,000 events replayed to a reconnecting /v1/ws client
#            (sluice_replay_bench)
# The server runs with one event loop pinned to core 0 (taskset -c 0), wrk and
# the replay client on core 1; loopback only. Beside each figure: the server's
# and wrk's CPU time over the run (from /proc), so a client-bound result shows.
#
# Usage: bench/run_http_bench.sh [--duration S] [--connections "50 500"] [--reps N]
#          [--stores "memory sqlite"] [--keys] [--payload BYTES] [--no-build]
#          [--build-dir DIR] [--data-dir DIR] [--no-replay]
# --connections: wrk keep-alive connections, one request in flight each (a list:
# each is measured); more connections mean bigger group commits (one fsync each).
# --keys: every request carries a unique idempotencyKey. --no-replay: publish only.
# Beside each rate: events per server CPU-second (rate / server CPU share), the
# figure to compare between builds on a machine that is not quiet.
# Needs wrk (Debian: apt-get install wrk). Results: a table on stdout and
# build/bench/http-results.csv. Runtime: about 1 minute with the defaults.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build/bench"
DURATION=10 CONNECTIONS="50 500" REPS=3 STORES="memory sqlite" KEYS=0 PAYLOAD=64 BUILD_IT=1
DATA="" REPLAY=1
SERVER_CORE=0 CLIENT_CORE=1

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --stores) STORES=$2; shift 2 ;;
    --keys) KEYS=1; shift ;;
    --payload) PAYLOAD=$2; shift 2 ;;
    --no-build) BUILD_IT=0; shift ;;
    --build-dir) BUILD=$(realpath -m "$2"); shift 2 ;;
    --data-dir) DATA=$(realpath -m "$2"); shift 2 ;;
    --no-replay) REPLAY=0; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
DATA=${DATA:-$BUILD/http-data}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

if ((BUILD_IT)); then
  [[ -f "$BUILD/CMakeCache.txt" ]] || cmake --preset release -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j2 --target sluice sluice_replay_bench
fi
SLUICE="$BUILD/sluice"
CSV="$BUILD/http-results.csv"
LOGS="$BUILD/logs"
mkdir -p "$LOGS"
echo "scenario,store,connections,rep,events_per_s,server_cpu_pct,wrk_cpu_pct,p50_ms,p99_ms,errors,events_per_server_cpu_s" > "$CSV"

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS=$(getconf CLK_TCK)

SERVER_PID=""
start_server() {  # store, extra args...
  local store=$1; shift
  rm -rf "$DATA"
  : > "$LOGS/http-server.log"  # so the port found below is this server's, not the last one's
  taskset -c $SERVER_CORE "$SLUICE" serve --port 0 --threads 1 --ping-interval 0 --store "$store" \
    --data-dir "$DATA" "$@" > "$LOGS/http-server.log" 2>&1 &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 100); do
    PORT=$(grep -o 'ws://127.0.0.1:[0-9]*' "$LOGS/http-server.log" | head -1 | sed 's/.*://') || true
    [[ -n "$PORT" ]] && break
    sleep 0.1
  done
  [[ -n "$PORT" ]] || { echo "sluice did not start:" >&2; cat "$LOGS/http-server.log" >&2; exit 1; }
}
stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}
trap stop_server EXIT

printf "%-8s %-7s %5s %4s %12s %11s %9s %8s %8s %7s %12s\n" scenario store conns rep events/s server-CPU wrk-CPU p50-ms p99-ms errors per-CPU-s
for store in $STORES; do
 for CONNS in $CONNECTIONS; do
  for rep in $(seq "$REPS"); do
    start_server "$store"
    # Warm-up (connections, SQLite pages), not measured.
    SLUICE_PAYLOAD=$PAYLOAD SLUICE_KEYS=$KEYS taskset -c $CLIENT_CORE wrk -t1 -c"$CONNS" -d2s \
      -s "$ROOT/bench/http/publish.lua" "http://127.0.0.1:$PORT/v1/events" > /dev/null
    s0=$(cpu_ticks "$SERVER_PID")
    SLUICE_PAYLOAD=$PAYLOAD SLUICE_KEYS=$KEYS taskset -c $CLIENT_CORE wrk -t1 -c"$CONNS" -d"${DURATION}s" \
      --latency -s "$ROOT/bench/http/publish.lua" "http://127.0.0.1:$PORT/v1/events" > "$LOGS/wrk.out" &
    WRK=$!
    sleep 0.2
    w0=$(cpu_ticks "$WRK" 2>/dev/null || echo 0)
    sleep "$(echo "$DURATION - 0.5" | bc)"
    w1=$(cpu_ticks "$WRK" 2>/dev/null || echo "$w0")
    wait "$WRK"
    s1=$(cpu_ticks "$SERVER_PID")
    rate=$(awk '/Requests\/sec/ {print $2}' "$LOGS/wrk.out")
    p50=$(awk '$1=="50%" {print $2}' "$LOGS/wrk.out")
    p99=$(awk '$1=="99%" {print $2}' "$LOGS/wrk.out")
    errors=$(awk '/Non-2xx/ {print $5} /Socket errors/ {print $4+$6+$8+$10}' "$LOGS/wrk.out" | paste -sd+ | bc 2>/dev/null || echo 0)
    errors=${errors:-0}
    to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) print substr(v,1,length(v)-2)/1000; else if (v ~ /ms$/) print substr(v,1,length(v)-2); else if (v ~ /s$/) print substr(v,1,length(v)-1)*1000; else print v }'; }
    server_cpu=$(awk -v a="$s0" -v b="$s1" -v t="$TICKS" -v d="$DURATION" 'BEGIN {printf "%.0f", 100*(b-a)/t/d}')
    wrk_cpu=$(awk -v a="$w0" -v b="$w1" -v t="$TICKS" -v d="$DURATION" 'BEGIN {printf "%.0f", 100*(b-a)/t/(d-0.7)}')
    per_cpu=$(awk -v r="$rate" -v a="$s0" -v b="$s1" -v t="$TICKS" -v d="$DURATION" \
      'BEGIN { c = (b-a)/t/d; if (c > 0) printf "%.0f", r/c; else print "-" }')
    printf "%-8s %-7s %5s %4s %12.0f %10s%% %8s%% %8s %8s %7s %12s\n" publish "$store" "$CONNS" "$rep" "$rate" "$server_cpu" \
      "$wrk_cpu" "$(to_ms "$p50")" "$(to_ms "$p99")" "$errors" "$per_cpu"
    echo "publish,$store,$CONNS,$rep,$rate,$server_cpu,$wrk_cpu,$(to_ms "$p50"),$(to_ms "$p99"),$errors,$per_cpu" >> "$CSV"
    stop_server
  done
 done
done

# Replay: 100,000 events in history (enough count and bytes for them).
((REPLAY)) && for store in $STORES; do
  start_server "$store" --history-max-events 200000 --history-max-bytes 268435456
  taskset -c $CLIENT_CORE "$BUILD/bench/sluice_replay_bench" --port "$PORT" --events 100000 --rounds 5 \
    | tee "$LOGS/replay-$store.out"
  # "replay of N events: min A s, median B s, max C s"
  median=$(awk '/^replay of/ {for (i = 1; i < NF; ++i) if ($i == "median") print $(i + 1)}' "$LOGS/replay-$store.out")
  echo "replay,$store,1,median,$median,,,,," >> "$CSV"
  stop_server
done
echo "results: $CSV"
