#!/usr/bin/env bash
# The benchmark suite, Sluice side by side with peers, in one run:
#   fan-out  100, 1,000, 3,000 and 10,000 subscribers, 64-byte payloads
#            (deliveries/s, p50/p99)
#   echo     500 connections, one 512-byte message each in flight (messages/s)
#   idle     19,000 open connections (server RSS per connection, KiB)
#   churn    100 workers, each repeating connect, handshake, subscribe (Sluice:
#            until acknowledged; the peers have nothing to subscribe to), close
#            (cycles/s); "sluice-handshake" is Sluice without the subscribe,
#            the peers' cycle
#   nodeflate1k, deflate1k  fan-out to 1,000 subscribers of 1 KiB events,
#            without and with permessage-deflate (deliveries/s); the report
#            sets each server's deflate figure beside its uncompressed one.
#            websocketpp is not measured with deflate (its peer has no
#            compressing configuration)
#   publish  HTTP POST /v1/events on 500 keep-alive connections (events/s),
#            loaded by `sluice bench publish`: the default durable store
#            (sqlite), "sluice-memory" (`--store memory`), and "nginx"
#            answering every request with `return 201` (bench/peers/nginx_201.sh:
#            the ceiling of an HTTP request on the machine, the anchor)
#   storm    1,000 subscribers of a topic published to at 200 events/s, every
#            one cut at once after the warm-up, each resuming from its last
#            offset (Sluice only: the peers cannot resume): the time until all
#            are back and resubscribed (ms, the median subscriber's and the
#            last one's); a round that lost or duplicated an event fails
# against a Boost.Beast server and a websocketpp server (bench/peers/, built
# here when their headers are installed), Node's ws (bench/peers/, npm) and
# uWebSockets (bench/peers/uws_broadcast.cpp, built by build_uws_peer.sh from
# uWebSockets' own sources in build/bench/uws/, never vendored). Server
# "sluice" runs `sluice serve` as installed (durable sqlite store);
# "sluice-memory" adds `--store memory` (fan-out and publish);
# "sluice-centrifugo" is Sluice loaded through Centrifugo's client protocol on
# /connection/websocket (fan-out only); "sluice-scraped" is Sluice with
# GET /metrics every second during the measurement (fan-out only).
# Every server runs pinned to core 0 (taskset -c 0), the load client to core 1;
# loopback only; every round measures each scenario on each server in turn.
# See docs/benchmarks.md.
#
# Usage: bench/run_server_bench.sh [--quick] [--reps N] [--duration S] [--warmup S]
#          [--servers "sluice sluice-memory sluice-centrifugo sluice-scraped sluice-handshake uws beast websocketpp ws nginx"]
#          [--scenarios "fanout100 fanout1k fanout3k fanout10k echo idle churn nodeflate1k deflate1k tls1k publish storm"]
#          [--plots] [--plots-dir DIR] [--no-install] [--no-build] [--sluice-args "--store memory"]
#          [--build-dir DIR] [--baseline DIR] [--uws PATH] [--uws-zlib PATH] [--load-threads N]
#
# --plots: at the end, write the report (results.md: the table with ratios,
# the machine, the commit and this command; PNG plots) into docs/benchmarks/
# with bench/report_server_bench.py; needs matplotlib (Debian:
# python3-matplotlib, installed by scripts/install-deps.sh), checked before the
# run starts. Off by default, so a trial run never overwrites the committed
# figures. --plots-dir DIR: the same into DIR.
# A scenario fanoutN (fanout250, fanout2k, ...) is N subscribers; so are
# nodeflateN and deflateN (1 KiB events), and tlsN: fanoutN over wss:// (TLS
# 1.3, a self-signed certificate made for the run), measured on Sluice and
# Boost.Beast (the other peers are built without TLS).
#
# uWebSockets is built on first use by bench/peers/build_uws_peer.sh from git
# dirs named by UWS_GIT and USOCKETS_GIT (else it clones GitHub; uws is
# skipped when that fails), into build/bench/uws/: uws_broadcast, and for
# deflateN uws_broadcast_zlib (with zlib). With local git dirs, no network:
#   UWS_GIT=/path/uWebSockets.git USOCKETS_GIT=/path/uSockets.git bench/run_server_bench.sh
# --uws PATH, --uws-zlib PATH: prebuilt peers instead (built elsewhere by
# build_uws_peer.sh OUT_DIR, and build_uws_peer.sh --zlib OUT_DIR).
#
# --load-threads N (default 1): the fan-out scenarios (fanoutN, nodeflateN,
# deflateN) run the load client with N threads (`--threads N`: the
# subscribers over N event loops), pinned to cores 1..N, or to every core
# (the server's too) when the machine has no N cores besides the server's;
# the other scenarios keep one load thread on core 1. For when one load
# thread, not the server, is the limit (deflateN: inflating every delivery).
# The load client's CPU figures are then % of one core, summed over its
# threads; compare servers per server CPU-second when the load shares the
# server's core. Each row of results.csv says its load_threads.
#
# --build-dir: the build tree to use (default build/bench); --baseline: the
# tree (or a copy: DIR/sluice, DIR/examples/echo_server) of another Sluice
# build, measured as server "sluice-base" in the same rounds, for before/after
# ratios of a change.
#
# Runtime: the full run is 3 rounds of about 60 measurements of 2 s warm-up +
# 10 s plus connection set-up: about 45 minutes on a 2-vCPU VM, plus the build
# (about 3 minutes from scratch). --quick: 1 round of 1 s + 3 s, about 8 minutes.
# Results: a table on stdout, every measurement in build/bench/results.csv (the
# run's machine, commit and command in build/bench/results.meta), server and
# load-client logs in build/bench/logs/.
set -euo pipefail
# The command line, as one would type it again, for the report (before the options are shifted away).
COMMAND="bench/run_server_bench.sh"
for arg in "$@"; do
  if [[ $arg =~ ^[A-Za-z0-9_./:=,+-]+$ ]]; then COMMAND+=" $arg"; else COMMAND+=" '${arg//\'/\'\\\'\'}'"; fi
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build/bench"
PEERS="$ROOT/bench/peers"
LOGS="$BUILD/logs"
CSV="$BUILD/results.csv"

REPS=3 WARMUP=2 DURATION=10
SERVERS="sluice sluice-memory sluice-centrifugo sluice-scraped sluice-handshake uws beast websocketpp ws nginx"
UWS_PEER="" UWS_ZLIB_PEER=""
SCENARIOS="fanout100 fanout1k fanout3k fanout10k echo idle churn nodeflate1k deflate1k tls1k publish storm"
INSTALL=1 BUILD_IT=1 PLOTS_DIR=""
SLUICE_ARGS=""  # extra `sluice serve` flags, e.g. "--store memory"
BASELINE=""     # another Sluice build, measured as "sluice-base"
FANOUT_PAYLOAD=64 ECHO_PAYLOAD=512 ECHO_CONNECTIONS=500 IDLE_CONNECTIONS=19000
PUBLISH_PAYLOAD=64 PUBLISH_CONNECTIONS=500
CHURN_WORKERS=100 DEFLATE_PAYLOAD=1024  # deflateN and nodeflateN: 1 KiB events
STORM_SUBSCRIBERS=1000
# Messages the slowest subscriber may lag behind the publisher: bounds the
# servers' queues, and (Little's law) latency ~ in-flight / publish rate.
IN_FLIGHT=64
SERVER_CORE=0 LOADGEN_CORE=1
LOAD_THREADS=1  # fan-out scenarios: load client threads (--load-threads)

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) REPS=1 WARMUP=1 DURATION=3; shift ;;
    --reps) REPS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    --no-build) BUILD_IT=0; shift ;;
    --sluice-args) SLUICE_ARGS=$2; shift 2 ;;
    --build-dir) BUILD=$(realpath -m "$2"); LOGS="$BUILD/logs"; CSV="$BUILD/results.csv"; shift 2 ;;
    --baseline) BASELINE=$(realpath "$2"); shift 2 ;;
    --uws) UWS_PEER=$(realpath -m "$2"); shift 2 ;;
    --uws-zlib) UWS_ZLIB_PEER=$(realpath -m "$2"); shift 2 ;;
    --load-threads) LOAD_THREADS=$2; shift 2 ;;
    --plots) PLOTS_DIR=${PLOTS_DIR:-$ROOT/docs/benchmarks}; shift ;;
    --plots-dir) PLOTS_DIR=$(realpath -m "$2"); shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

[[ $(nproc) -ge 2 ]] || die "needs 2 CPUs (server on core $SERVER_CORE, load client on core $LOADGEN_CORE)"
[[ $LOAD_THREADS =~ ^[1-9][0-9]*$ ]] || die "--load-threads must be a positive integer, not '$LOAD_THREADS'"
# The fan-out load client's cores: 1..N, or all of them (sharing the server's) when there are not N more.
FANOUT_LOAD_CORES=$LOADGEN_CORE
if [[ $LOAD_THREADS -gt 1 ]]; then
  if [[ $(nproc) -gt $LOAD_THREADS ]]; then
    FANOUT_LOAD_CORES="$LOADGEN_CORE-$((LOADGEN_CORE + LOAD_THREADS - 1))"
  else
    FANOUT_LOAD_CORES="0-$(($(nproc) - 1))"
  fi
fi
command -v taskset > /dev/null || die "taskset (util-linux) is required"
command -v python3 > /dev/null || die "python3 is required for the summary table"
for scenario in $SCENARIOS; do
  [[ $scenario =~ ^((no)?deflate[0-9]+k?|fanout[0-9]+k?|tls[0-9]+k?|echo|idle|churn|publish|storm)$ ]] || die "unknown scenario: $scenario (see --help)"
done

# The report needs matplotlib: the first python3 that has it (pyenv's may not, Debian's may).
PLOT_PYTHON=""
if [[ -n $PLOTS_DIR ]]; then
  for python in python3 /usr/bin/python3; do
    if "$python" -c 'import matplotlib' 2> /dev/null; then PLOT_PYTHON=$python; break; fi
  done
  [[ -n $PLOT_PYTHON ]] || die "--plots needs matplotlib: apt-get install python3-matplotlib (scripts/install-deps.sh does)"
fi
mkdir -p "$BUILD" "$LOGS"
# tlsN: one self-signed certificate for the run's servers (the load client does not check it).
TLS_DIR="$BUILD/bench-tls"
if [[ " $SCENARIOS " == *" tls"* ]]; then
  mkdir -p "$TLS_DIR"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TLS_DIR/key.pem" \
    -out "$TLS_DIR/cert.pem" -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2> /dev/null \
    || die "openssl could not make the tlsN scenario's certificate"
fi

# --- everything started here is stopped here ---
SERVER_PID="" LOADGEN_PID="" SCRAPER_PID="" CTL_FIFO=""
cleanup() {
  for pid in $SCRAPER_PID $LOADGEN_PID $SERVER_PID; do
    kill -TERM "$pid" 2> /dev/null || true
  done
  for pid in $SCRAPER_PID $LOADGEN_PID $SERVER_PID; do
    wait "$pid" 2> /dev/null || true
  done
  if [[ -n ${SLUICE_DATA:-} ]]; then rm -rf "$SLUICE_DATA"; fi
  if [[ -n $CTL_FIFO ]]; then rm -f "$CTL_FIFO"; fi  # (an `&&` list ending false would be the script's exit status)
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- peer dependencies ---
# Installs Debian package $1 for peer $2 (as root, with apt-get), or says the peer is skipped.
apt_install_peer() {
  local package=$1 peer=$2
  if [[ $(id -u) == 0 ]] && command -v apt-get > /dev/null; then
    log "installing $package"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package") > "$LOGS/apt-$peer.log" 2>&1 \
      || log "apt-get failed (see build/bench/logs/apt-$peer.log): $peer is skipped"
  else
    log "$package missing and not root: $peer is skipped"
  fi
}
if [[ $INSTALL == 1 ]]; then
  if [[ $SERVERS == *websocketpp* && ! -f /usr/include/websocketpp/server.hpp ]]; then
    apt_install_peer libwebsocketpp-dev websocketpp
  fi
  if [[ " $SERVERS " == *" nginx "* && " $SCENARIOS " == *" publish "* ]] && ! command -v nginx > /dev/null && [[ ! -x /usr/sbin/nginx ]]; then
    apt_install_peer nginx-light nginx
  fi
  if [[ $SERVERS == *ws* ]] && command -v npm > /dev/null && [[ ! -d $PEERS/node_modules/ws ]]; then
    log "installing ws (bench/peers/package-lock.json)"
    (cd "$PEERS" && npm ci --no-audit --no-fund --loglevel=error) > /dev/null || log "npm ci failed: ws is skipped"
  fi
fi

# --- build (its own build tree, so a build running in build/release is not disturbed) ---
if [[ $BUILD_IT == 1 ]]; then
  log "building (release flags) in $BUILD"
  # Tests are not needed here (and a half-written test must not stop a benchmark).
  cmake --preset release -B "$BUILD" -DSLUICE_BUILD_TESTS=OFF > "$LOGS/configure.log" 2>&1 \
    || die "cmake configure failed (build/bench/logs/configure.log)"
  targets="sluice echo_server sluice_loadgen beast_broadcast"  # `sluice bench publish` is in sluice
  [[ -f /usr/include/websocketpp/server.hpp ]] && targets+=" websocketpp_broadcast"
  cmake --build "$BUILD" --target $targets > "$LOGS/build.log" 2>&1 \
    || die "build failed (build/bench/logs/build.log)"
fi
[[ -n $UWS_PEER ]] || UWS_PEER="$BUILD/uws/uws_broadcast"
[[ -n $UWS_ZLIB_PEER ]] || UWS_ZLIB_PEER="$BUILD/uws/uws_broadcast_zlib"
if [[ $BUILD_IT == 1 && $SERVERS == *uws* && ! -x $UWS_PEER ]]; then
  log "building the uWebSockets peer in $BUILD/uws"
  "$PEERS/build_uws_peer.sh" "$BUILD/uws" > "$LOGS/build-uws.log" 2>&1 \
    || log "could not build the uWebSockets peer (build/bench/logs/build-uws.log): uws is skipped"
fi
if [[ $BUILD_IT == 1 && $SERVERS == *uws* && " $SCENARIOS" == *" deflate"* && ! -x $UWS_ZLIB_PEER ]]; then
  log "building the uWebSockets peer with zlib in $BUILD/uws"
  "$PEERS/build_uws_peer.sh" --zlib "$BUILD/uws" > "$LOGS/build-uws-zlib.log" 2>&1 \
    || log "could not build the uWebSockets peer with zlib (build/bench/logs/build-uws-zlib.log): uws is skipped in deflate"
fi
LOADGEN="$BUILD/bench/sluice_loadgen"
[[ -x $LOADGEN ]] || die "$LOADGEN is missing (run without --no-build)"

available() {
  case "$1" in
    sluice|sluice-memory|sluice-centrifugo|sluice-scraped|sluice-handshake) [[ -x $BUILD/sluice && -x $BUILD/examples/echo_server ]] ;;
    sluice-base) [[ -n $BASELINE && -x $BASELINE/sluice && -x $BASELINE/examples/echo_server ]] ;;
    beast) [[ -x $BUILD/bench/peers/beast_broadcast ]] ;;
    websocketpp) [[ -x $BUILD/bench/peers/websocketpp_broadcast ]] ;;
    ws) command -v node > /dev/null && [[ -d $PEERS/node_modules/ws ]] ;;
    uws) [[ -x $UWS_PEER ]] ;;
    nginx) command -v nginx > /dev/null || [[ -x /usr/sbin/nginx ]] ;;
    *) return 1 ;;
  esac
}
# A sluice with a durable store keeps it in --data-dir: a fresh one per
# measurement under build/bench, never in the caller's directory.
SLUICE_DATA="$BUILD/sluice-data" SLUICE_STORE_ARGS=""
if [[ -x $BUILD/sluice ]] && "$BUILD/sluice" serve --help 2> /dev/null | grep -q -- '--data-dir'; then
  SLUICE_STORE_ARGS=" --data-dir $SLUICE_DATA"
fi

[[ -n $BASELINE && $SERVERS != *sluice-base* ]] && SERVERS="sluice-base $SERVERS"
ACTIVE=""
for s in $SERVERS; do
  if available "$s"; then ACTIVE+="$s "; else log "$s is not available: skipped"; fi
done
[[ -n $ACTIVE ]] || die "no server to measure"
if [[ " $SCENARIOS" == *" deflate"* ]]; then
  [[ " $ACTIVE" == *" websocketpp "* ]] && log "websocketpp has no permessage-deflate peer: not measured in deflate"
  [[ " $ACTIVE" == *" uws "* && ! -x $UWS_ZLIB_PEER ]] && log "$UWS_ZLIB_PEER is missing: uws is not measured in deflate"
fi

# The command line of server $1 for scenario $2 on port $3.
server_command() {
  local server=$1 scenario=$2 port=$3 mode=broadcast deflate="" tls=""
  [[ $scenario == echo ]] && mode=echo
  [[ $scenario == tls* ]] && tls=" --tls-cert $TLS_DIR/cert.pem --tls-key $TLS_DIR/key.pem"
  [[ $scenario == deflate* ]] && deflate=" --deflate on"  # the peers' flag; Sluice accepts deflate unless told not to
  case "$server" in
    sluice|sluice-memory|sluice-centrifugo|sluice-scraped|sluice-handshake)
      if [[ $scenario == echo ]]; then
        echo "$BUILD/examples/echo_server --port $port --no-deflate"
      else
        local store=""
        [[ $server == sluice-memory ]] && store=" --store memory"
        echo "$BUILD/sluice serve --port $port --threads 1 --ping-interval 0 --max-connections 30000 --shutdown-drain 1$SLUICE_STORE_ARGS $SLUICE_ARGS$store$tls"
      fi ;;
    sluice-base)
      if [[ $scenario == echo ]]; then
        echo "$BASELINE/examples/echo_server --port $port --no-deflate"
      else
        echo "$BASELINE/sluice serve --port $port --threads 1 --ping-interval 0 --max-connections 30000 --shutdown-drain 1$SLUICE_STORE_ARGS $SLUICE_ARGS$tls"
      fi ;;
    beast) echo "$BUILD/bench/peers/beast_broadcast --mode $mode --port $port$deflate$tls" ;;
    websocketpp) echo "$BUILD/bench/peers/websocketpp_broadcast --mode $mode --port $port" ;;
    ws) echo "node $PEERS/ws_broadcast.mjs --mode $mode --port $port$deflate" ;;
    nginx) echo "$PEERS/nginx_201.sh $port $BUILD/nginx-peer" ;;
    uws)
      if [[ -n $deflate ]]; then
        echo "$UWS_ZLIB_PEER --mode $mode --port $port$deflate"
      else
        echo "$UWS_PEER --mode $mode --port $port"
      fi ;;
  esac
}

# Starts a server pinned to the server core, with 20,000 open files allowed;
# returns once it printed its "listening" line and accepts a TCP connection.
start_server() {
  local command=$1 logfile=$2 port=$3
  (ulimit -n 20000 && exec taskset -c "$SERVER_CORE" $command) > "$logfile" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 200); do
    # The "listening" line, then a TCP connect that succeeds: only then is the port open.
    if grep -q "listening" "$logfile" 2> /dev/null && (exec 9<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
      return 0
    fi
    kill -0 "$SERVER_PID" 2> /dev/null || break
    sleep 0.05
  done
  log "server did not start: $command (log: $logfile)"
  stop_server
  return 1
}

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM "$SERVER_PID" 2> /dev/null || true
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2> /dev/null || break
    sleep 0.05
  done
  kill -KILL "$SERVER_PID" 2> /dev/null || true
  wait "$SERVER_PID" 2> /dev/null || true
  SERVER_PID=""
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2> /dev/null || echo 0; }

# N of scenario fanoutN, deflateN, nodeflateN, tlsN: fanout100 is 100 subscribers, deflate3k 3,000.
fanout_subscribers() {
  local n=${1#fanout}
  n=${n#nodeflate} n=${n#deflate} n=${n#tls}
  [[ $n == *k ]] && n=$((${n%k} * 1000))
  echo "$n"
}

# `sluice bench --csv` output (a header line and a row) in file $1 as a RESULT line.
csv_to_result_line() {
  awk -F, 'NR == 1 {for (i = 1; i <= NF; ++i) key[i] = $i}
           NR == 2 {line = "RESULT"; for (i = 1; i <= NF; ++i) line = line " " key[i] "=" $i; print line}' "$1"
}

# Value of key $2 in RESULT line $1.
field() { tr ' ' '\n' <<< "$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }

echo "time,rep,scenario,server,connections,payload,in_flight,rate,p50_us,p99_us,loadgen_cpu_pct,loadgen_wait_pct,server_cpu_pct,server_wait_pct,rss_before_kib,rss_after_kib,kib_per_conn,status,load_threads,lost,duplicates" > "$CSV"
PORT=$((20000 + ($$ % 40) * 250))

# One measurement: scenario $1, server $2, round $3.
measure() {
  local scenario=$1 server=$2 rep=$3
  local mode=$scenario protocol=broadcast n payload=$FANOUT_PAYLOAD in_flight="" extra=()
  local load_threads=1 load_cores=$LOADGEN_CORE
  [[ $server == sluice || $server == sluice-base || $server == sluice-memory ]] && protocol=sluice
  if [[ $server == nginx ]]; then
    [[ $scenario == publish ]] || return 0  # the HTTP anchor: it answers `return 201`, nothing else
  elif [[ ($scenario == publish || $scenario == storm) && $protocol != sluice ]]; then
    return 0  # HTTP publish is Sluice's own API; a storm resumes from offsets, which the peers do not keep
  fi
  if [[ $scenario == tls* ]]; then
    [[ $server == sluice || $server == sluice-memory || $server == sluice-base || $server == beast ]] || return 0
    extra+=(--tls)
  fi
  if [[ $server == sluice-memory && $scenario != fanout* && $scenario != *deflate* && $scenario != tls* && $scenario != publish ]]; then
    return 0  # the store is on the path of fan-out and publish only
  fi
  if [[ $server == sluice-handshake ]]; then
    [[ $scenario == churn ]] || return 0  # the peers' churn cycle (no subscribe), on Sluice
    protocol=broadcast extra+=(--path /v1/ws)
  fi
  if [[ $scenario == deflate* ]]; then
    [[ $server == websocketpp ]] && return 0  # no compressing peer (logged at the start)
    [[ $server == uws && ! -x $UWS_ZLIB_PEER ]] && return 0
    extra+=(--deflate)
  fi
  if [[ $server == sluice-centrifugo ]]; then
    [[ $scenario == fanout* ]] || return 0  # the Centrifugo protocol is measured in fan-out only
    protocol=centrifugo
  fi
  if [[ $server == sluice-scraped ]]; then
    [[ $scenario == fanout* ]] || return 0  # scraping is measured in fan-out only
    protocol=sluice
  fi
  case "$scenario" in
    fanout*|tls*) mode=fanout n=$(fanout_subscribers "$scenario") in_flight=$IN_FLIGHT ;;
    deflate*|nodeflate*) mode=fanout n=$(fanout_subscribers "$scenario") in_flight=$IN_FLIGHT payload=$DEFLATE_PAYLOAD ;;
    echo) n=$ECHO_CONNECTIONS payload=$ECHO_PAYLOAD ;;
    idle) n=$IDLE_CONNECTIONS ;;
    churn) n=$CHURN_WORKERS ;;
    publish) n=$PUBLISH_CONNECTIONS payload=$PUBLISH_PAYLOAD ;;
    storm) n=$STORM_SUBSCRIBERS ;;
  esac
  [[ -n $in_flight ]] && extra+=(--in-flight "$in_flight")
  if [[ $mode == fanout && $LOAD_THREADS -gt 1 ]]; then
    load_threads=$LOAD_THREADS load_cores=$FANOUT_LOAD_CORES
    extra+=(--threads "$load_threads")
  fi
  PORT=$((PORT + 1))
  rm -rf "$SLUICE_DATA"
  local tag="$scenario-$server-$rep" status=ok result="" before=0 after=0 per_conn=""
  start_server "$(server_command "$server" "$scenario" "$PORT")" "$LOGS/$tag.server.log" "$PORT" || {
    echo "$(date +%T),$rep,$scenario,$server,$n,$payload,$in_flight,,,,,,,,,,,server-failed,$load_threads,," >> "$CSV"
    return 0
  }
  # idle: --duration is only the longest hold; the runner ends it by closing stdin.
  local duration=$DURATION
  [[ $mode == idle ]] && duration=300
  local args=("$mode" --protocol "$protocol" --port "$PORT" -n "$n" --payload "$payload" --warmup "$WARMUP"
              --duration "$duration" --server-pid "$SERVER_PID" --label "$server" "${extra[@]}")
  if [[ $mode == idle ]]; then
    before=$(rss_kib "$SERVER_PID")
    CTL_FIFO=$(mktemp -u "$BUILD/idle-ctl.XXXXXX") && mkfifo "$CTL_FIFO"
    (ulimit -n 20000 && exec taskset -c "$LOADGEN_CORE" "$LOADGEN" "${args[@]}") < "$CTL_FIFO" > "$LOGS/$tag.loadgen.log" 2>&1 &
    LOADGEN_PID=$!
    exec 3> "$CTL_FIFO"  # the load client holds its connections until this closes
    for _ in $(seq 1200); do
      grep -q '^READY' "$LOGS/$tag.loadgen.log" && break
      kill -0 "$LOADGEN_PID" 2> /dev/null || break
      sleep 0.1
    done
    if grep -q '^READY' "$LOGS/$tag.loadgen.log"; then
      sleep 2  # let a garbage-collected peer (Node) settle before reading its memory
      after=$(rss_kib "$SERVER_PID")
      per_conn=$(awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN {printf "%.2f", (a - b) / n}')
    else
      status=loadgen-failed
    fi
    exec 3>&-
    wait "$LOADGEN_PID" 2> /dev/null || status=loadgen-failed
    LOADGEN_PID=""
    rm -f "$CTL_FIFO"
    CTL_FIFO=""
  elif [[ $mode == publish ]]; then
    # `sluice bench publish`, as a user runs it; its CSV (a header and a row) becomes a RESULT line.
    (ulimit -n 20000 && exec taskset -c "$LOADGEN_CORE" timeout 300 "$BUILD/sluice" bench publish \
      --url "http://127.0.0.1:$PORT/v1/events" -n "$n" --payload "$payload" --warmup "$WARMUP" \
      --duration "$DURATION" --server-pid "$SERVER_PID" --csv --no-progress) \
      > "$LOGS/$tag.loadgen.csv" 2> "$LOGS/$tag.loadgen.log" &
    LOADGEN_PID=$!
    wait "$LOADGEN_PID" || status=loadgen-failed
    LOADGEN_PID=""
    csv_to_result_line "$LOGS/$tag.loadgen.csv" >> "$LOGS/$tag.loadgen.log"
  else
    if [[ $server == sluice-scraped ]]; then
      # Prometheus' way: one GET /metrics a second, from the load client's core.
      (exec taskset -c "$LOADGEN_CORE" bash -c "while sleep 1; do curl -sf -o /dev/null http://127.0.0.1:$PORT/metrics || exit 1; done") \
        > "$LOGS/$tag.scraper.log" 2>&1 &
      SCRAPER_PID=$!
    fi
    (exec taskset -c "$load_cores" timeout 300 "$LOADGEN" "${args[@]}") > "$LOGS/$tag.loadgen.log" 2>&1 &
    LOADGEN_PID=$!
    wait "$LOADGEN_PID" || status=loadgen-failed
    LOADGEN_PID=""
    if [[ -n $SCRAPER_PID ]]; then
      kill -0 "$SCRAPER_PID" 2> /dev/null || status=scraper-failed  # a failed scrape ended it
      kill -TERM "$SCRAPER_PID" 2> /dev/null || true
      wait "$SCRAPER_PID" 2> /dev/null || true
      SCRAPER_PID=""
    fi
  fi
  stop_server
  result=$(grep '^RESULT' "$LOGS/$tag.loadgen.log" || true)
  [[ -n $result ]] || status=loadgen-failed
  local rate p50 p99 lost="" duplicates=""
  rate=$(field "$result" rate) p50=$(field "$result" p50_us) p99=$(field "$result" p99_us)
  [[ $mode == idle ]] && rate=$per_conn
  if [[ $mode == storm ]]; then
    # The figure is the time until the last subscriber was back (ms); p50: the median subscriber's.
    rate=$(field "$result" back_max_ms) p99=""
    p50=$(awk -v ms="$(field "$result" back_p50_ms)" 'BEGIN {if (ms != "") printf "%.0f", ms * 1000}')
    lost=$(field "$result" lost) duplicates=$(field "$result" duplicates)
    [[ $status != ok || ( $lost == 0 && $duplicates == 0 ) ]] || status=events-lost-or-duplicated
  fi
  echo "$(date +%T),$rep,$scenario,$server,$n,$payload,$in_flight,$rate,$p50,$p99,$(field "$result" loadgen_cpu_pct),$(field "$result" loadgen_wait_pct),$(field "$result" server_cpu_pct),$(field "$result" server_wait_pct),$before,$after,$per_conn,$status,$load_threads,$lost,$duplicates" >> "$CSV"
  log "$(printf '%-9s %-11s round %s: %s %s' "$scenario" "$server" "$rep" "${rate:-?}" "$status")"
}

log "servers: $ACTIVE; scenarios: $SCENARIOS; $REPS round(s) of ${WARMUP}s warm-up + ${DURATION}s"
[[ $LOAD_THREADS -gt 1 ]] && log "fan-out load client: $LOAD_THREADS threads on cores $FANOUT_LOAD_CORES (server on core $SERVER_CORE)"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine load before: $LOAD_BEFORE"
START=$(date +%s)
for rep in $(seq "$REPS"); do
  for scenario in $SCENARIOS; do
    for server in $ACTIVE; do
      measure "$scenario" "$server" "$rep"
    done
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
log "done in $(($(date +%s) - START)) s; machine load after: $LOAD_AFTER"
{
  echo "command: $COMMAND"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2> /dev/null || echo ' (with uncommitted changes)')"
  echo "cpu: $(lscpu 2> /dev/null | sed -n 's/^Model name: *//p' | head -1)"
  echo "cores: $(nproc) ($(lscpu 2> /dev/null | sed -n 's/^Thread(s) per core: *//p') thread(s) per core)"
  echo "memory: $(awk '/^MemTotal:/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "os: $(. /etc/os-release 2> /dev/null && echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo "compiler: $("$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2> /dev/null | head -1)" --version 2> /dev/null | head -1), the release preset"
  echo "rounds: $REPS of ${WARMUP} s warm-up + ${DURATION} s"
  if [[ $LOAD_THREADS -gt 1 ]]; then
    echo "load client: fan-out $LOAD_THREADS threads on cores $FANOUT_LOAD_CORES (its CPU: % of one core, summed over threads); other scenarios 1 thread on core $LOADGEN_CORE"
  else
    echo "load client: 1 thread on core $LOADGEN_CORE"
  fi
  echo "sluice: sluice serve --threads 1${SLUICE_STORE_ARGS//$ROOT\//}${SLUICE_ARGS:+ $SLUICE_ARGS}"
  echo "load average: $LOAD_BEFORE before, $LOAD_AFTER after"
  echo "date: $(date -u +%Y-%m-%d)"
} > "${CSV%.csv}.meta"

python3 "$ROOT/bench/summarize_server_bench.py" "$CSV"
if [[ -n $PLOTS_DIR ]]; then
  "$PLOT_PYTHON" "$ROOT/bench/report_server_bench.py" --out "$PLOTS_DIR" --meta "${CSV%.csv}.meta" "$CSV"
  log "report and plots: $PLOTS_DIR/results.md"
fi
