#!/usr/bin/env bash
# Quick start 1: install what is missing, build (release), and start the
# server: `sluice serve` on ws://127.0.0.1:8080/v1/ws. Arguments are passed to
# `sluice serve`, e.g. scripts/run.sh --port 9000 (see: sluice serve --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target sluice
exec ./build/release/sluice serve "$@"
