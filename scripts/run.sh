#!/usr/bin/env bash
# Quick start 1: install what is missing, build (release), and start the server.
# For now the server is the WebSocket echo server (examples/echo_server) on
# ws://127.0.0.1:9001; pass its flags after the script, e.g. --port 9002.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target echo_server
exec ./build/release/examples/echo_server "$@"
