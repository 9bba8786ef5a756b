#!/usr/bin/env bash
# Installs what Sluice needs to build and test, from Debian packages (and the
# pinned Node.js test peers from npm). Idempotent, and quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: toolchain, libraries, test and benchmark frameworks, fuzzing
# runtime, the python3-websockets interop peer, and Python's jwt (with
# cryptography, only recommended by it, for ES256/RS256) that makes the
# independent tokens the auth tests verify, and Prometheus' own text parser
# that reads /metrics in the tests; chromium, its driver and selenium for the
# /ui and Centrifugo browser tests; libsystemd for sd_notify (optional at
# build time); hiredis, the Redis engine's client, and redis-server, which the
# Redis tests start themselves; for benchmarks only, matplotlib, which draws the
# plots of bench/run_server_bench.sh --plots (and its test, skipped without it).
packages=(
  g++ cmake ninja-build pkg-config git openssl
  libboost1.81-dev libboost-json1.81-dev libssl-dev zlib1g-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libfmt-dev libspdlog-dev libjwt-dev
  libhiredis-dev redis-server
  clang libclang-rt-14-dev
  python3 python3-websockets python3-jwt python3-cryptography python3-prometheus-client
  chromium chromium-driver python3-selenium libsystemd-dev
  # Benchmark plots only. python3-munkres answers python3-fonttools' "scipy | munkres":
  # scipy would pull pythran and libboost-dev (1.74), which conflicts with libboost1.81-dev.
  python3-matplotlib python3-munkres
)
# Node.js: use the machine's own if it has one, otherwise Debian's.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node peers for the interop tests, pinned by tests/interop/package-lock.json.
if [[ -f tests/interop/package-lock.json ]]; then
  stamp=tests/interop/node_modules/.sluice-installed
  if [[ ! -f "$stamp" || tests/interop/package-lock.json -nt "$stamp" ]]; then
    echo "install-deps: npm ci in tests/interop"
    (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
    touch "$stamp"
  fi
fi
