#!/usr/bin/env bash
# What one GET /metrics costs the server: `sluice serve --threads 1` on core
# 0 with N idle WebSocket connections (sluice bench idle, core 1) and T
# topics, then K scrapes; the server's CPU time (utime + stime from
# /proc/PID/stat) over the scrapes, divided by K. At one scrape a second,
# that figure over 1 s is the share of a core Prometheus takes. Loopback only.
#
# Usage: bench/scrape_cost.sh [--build-dir build/release] [-n 10000] [--topics 200] [--scrapes 300]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build/release" N=10000 TOPICS=200 SCRAPES=300
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) BUILD=$(realpath "$2"); shift 2 ;;
    -n) N=$2; shift 2 ;;
    --topics) TOPICS=$2; shift 2 ;;
    --scrapes) SCRAPES=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
SLUICE="$BUILD/sluice"
[[ -x $SLUICE ]] || { echo "$SLUICE is missing (cmake --build --preset release)" >&2; exit 1; }
command -v curl > /dev/null || { echo "curl is required" >&2; exit 1; }
ulimit -n 20000

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SERVER_PID="" IDLE_PID=""
trap 'kill $IDLE_PID $SERVER_PID 2> /dev/null || true; wait 2> /dev/null || true' EXIT
taskset -c 0 "$SLUICE" serve --port "$PORT" --threads 1 --store memory --max-connections 30000 \
  > /dev/null 2>&1 &
SERVER_PID=$!
until curl -sf "localhost:$PORT/ready" > /dev/null; do sleep 0.1; done
for i in $(seq "$TOPICS"); do
  curl -sf -o /dev/null -X POST "localhost:$PORT/v1/events" -H 'Content-Type: application/json' \
    -d "{\"topic\":\"scrape.t$i\",\"data\":$i}"
done
fifo=$(mktemp -u) && mkfifo "$fifo"
taskset -c 1 "$SLUICE" bench idle --url "ws://127.0.0.1:$PORT/v1/ws" -n "$N" --duration 300 --no-progress \
  < "$fifo" > "$fifo.out" 2>&1 &
IDLE_PID=$!
exec 3> "$fifo"
rm -f "$fifo"
# Every connection is open once the server holds N descriptors more than its own few.
until [[ $(ls "/proc/$SERVER_PID/fd" | wc -l) -ge $N ]]; do
  kill -0 "$IDLE_PID" 2> /dev/null || { cat "$fifo.out" >&2; exit 1; }
  sleep 0.5
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
bytes=$(curl -sf "localhost:$PORT/metrics" | wc -c)
before=$(cpu_ticks) start=$(date +%s.%N)
for _ in $(seq "$SCRAPES"); do curl -sf -o /dev/null "localhost:$PORT/metrics"; done
after=$(cpu_ticks) end=$(date +%s.%N)
exec 3>&-
rm -f "$fifo.out"
python3 - "$before" "$after" "$(getconf CLK_TCK)" "$SCRAPES" "$start" "$end" "$N" "$TOPICS" "$bytes" << 'EOF'
import sys
before, after, hz, scrapes, start, end, n, topics, size = sys.argv[1:]
cpu_ms = (int(after) - int(before)) * 1000 / int(hz) / int(scrapes)
wall_ms = (float(end) - float(start)) * 1000 / int(scrapes)
print(f"{n} connections, {topics} topics, {size} bytes per scrape: {cpu_ms:.2f} ms of server CPU per scrape "
      f"({wall_ms:.1f} ms wall, curl included); at one scrape a second: {cpu_ms / 10:.3f} % of a core")
EOF
