#!/usr/bin/env bash
# packaging/docker/Dockerfile built and run for real with podman, as
# docs/operations.md "Docker" says: a key made in the container, /ready 200,
# POST /v1/events 401 without the key and 201 with it, the HEALTHCHECK
# command passing, the server running as uid 10001, SIGHUP logged as a
# reload, `podman stop` ending in a clean drain (exit 0, no SIGKILL), and the
# event still there in a new container on the same volumes.
#
# Run by hand (it compiles sluice in the image: about half an hour on 2
# cores, so it is not part of ctest):
#   tests/packaging/docker_test.sh
# or, to check an image already built with `podman build --format docker`:
#   SLUICE_DOCKER_IMAGE=sluice tests/packaging/docker_test.sh
# Exit 77 (skipped) when podman or curl is not installed.
#
# The base images debian:bookworm and debian:bookworm-slim are used from
# podman's store when present. Otherwise, with debootstrap installed, they
# are made from the Debian mirror of /etc/apt (or $SLUICE_DEBIAN_MIRROR) and
# removed at the end; without it, podman pulls them. The image it builds
# (localhost/sluice-test), its containers and volumes are removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in podman curl; do
  if ! command -v "$tool" > /dev/null; then
    echo "SKIP: $tool is not installed"
    exit 77
  fi
done

run_id=sluice-test-$$
image=${SLUICE_DOCKER_IMAGE:-localhost/sluice-test:latest}
etc_volume=$run_id-etc
data_volume=$run_id-data
work=$(mktemp -d)
made_base=0
containers=()
global=()  # podman's global flags and the run/build ulimits this host needs (probed below)
limits=()

fail() {
  echo "FAIL: $*"
  for c in "${containers[@]}"; do
    echo "--- podman logs $c"
    podman logs "$c" 2>&1 | tail -n 20 || true
  done
  [ ! -s "$work/podman.log" ] || { echo "--- podman"; tail -n 20 "$work/podman.log"; }
  exit 1
}

cleanup() {
  for c in "${containers[@]}"; do podman "${global[@]}" rm -f -t 0 "$c" > /dev/null 2>&1 || true; done
  podman volume rm -f "$etc_volume" "$data_volume" > /dev/null 2>&1 || true
  if [ -z "${SLUICE_DOCKER_IMAGE:-}" ]; then podman rmi -f "$image" > /dev/null 2>&1 || true; fi
  if [ "$made_base" = 1 ]; then
    podman rmi -f docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim > /dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- base images ---
pull=never
if [ -z "${SLUICE_DOCKER_IMAGE:-}" ] && { ! podman image exists docker.io/library/debian:bookworm \
     || ! podman image exists docker.io/library/debian:bookworm-slim; }; then
  if command -v debootstrap > /dev/null; then
    # The first .../debian of apt's sources (one-line or deb822 form).
    mirror=${SLUICE_DEBIAN_MIRROR:-$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
      | sed -nE 's#^(URIs:|deb) +(https?://[^ ]+/debian)/?( .*)?$#\2#p' | sed -n 1p || true)}
    mirror=${mirror:-http://deb.debian.org/debian}
    security=${mirror%/debian*}/debian-security
    echo "making debian:bookworm(-slim) with debootstrap from $mirror"
    made_base=1
    nice -n 15 debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
      || { tail -n 20 "$work/debootstrap.log"; fail "debootstrap"; }
    # The sources of Debian's own images: the release, its updates and security.
    rm -f "$work/rootfs/etc/apt/sources.list"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$security" > "$work/rootfs/etc/apt/sources.list.d/debian.sources"
    rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
    tar -C "$work/rootfs" -c . | podman import --quiet - docker.io/library/debian:bookworm > /dev/null
    podman tag docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim
    rm -rf "$work/rootfs"
  else
    pull=missing
  fi
fi

# --- how podman can run a container here ---
# Some hosts refuse podman's defaults: crun rejects a hybrid cgroup v1/v2
# layout (runc takes it), and a host hard limit below podman's default
# nofile/nproc ulimits makes setting them fail. Try the defaults first.
probe_image=${SLUICE_DOCKER_IMAGE:-docker.io/library/debian:bookworm-slim}
if [ "$pull" = never ] && ! podman run --rm --entrypoint true "$probe_image" > /dev/null 2> "$work/probe"; then
  limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=4096:4096")
  if command -v runc > /dev/null; then global=(--runtime runc); fi
  podman "${global[@]}" run --rm "${limits[@]}" --entrypoint true "$probe_image" > /dev/null 2>> "$work/probe" \
    || fail "podman cannot run a container here: $(cat "$work/probe")"
  echo "podman runs containers here with: ${global[*]} ${limits[*]}"
fi
pod() { podman "${global[@]}" "$@"; }
# Without systemd, podman logs an error for each health-check timer it cannot
# add or remove at run, stop and rm; these go to a file, shown on failure.
podq() { pod "$@" 2>> "$work/podman.log"; }

# --- build ---
# --format docker: the OCI image format has no HEALTHCHECK (podman drops it).
# --layers=false: no cached layers are left behind.
if [ -z "${SLUICE_DOCKER_IMAGE:-}" ]; then
  start=$SECONDS
  nice -n 15 podman "${global[@]}" build --format docker --layers=false --pull="$pull" "${limits[@]}" \
    -f packaging/docker/Dockerfile -t "$image" . > "$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log"; fail "podman build"; }
  echo "built $image in $((SECONDS - start)) s"
fi

# --- run ---
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
pod volume create "$etc_volume" > /dev/null
pod volume create "$data_volume" > /dev/null
key=$(podq run --rm "${limits[@]}" -v "$etc_volume:/etc/sluice" "$image" \
        key create --keys-file /etc/sluice/keys --name admin --scopes admin | tail -n 1) \
  || fail "sluice key create in a container"
[ -n "$key" ] || fail "sluice key create printed no key"

start_server() {  # NAME: runs the image as docs/operations.md does, on loopback
  containers+=("$1")
  podq run -d --name "$1" "${limits[@]}" -p "127.0.0.1:$port:8080" \
    -v "$etc_volume:/etc/sluice" -v "$data_volume:/var/lib/sluice" "$image" > /dev/null \
    || fail "podman run $1"
  local deadline=$((SECONDS + 60))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/ready")" = 200 ]; do
    [ "$(pod inspect -f '{{.State.Running}}' "$1")" = true ] || fail "$1 exited before /ready"
    [ $SECONDS -lt $deadline ] || fail "$1: /ready not 200 within 60 s"
    sleep 0.2  # polling the probe, as a load balancer does
  done
}

status() {  # METHOD PATH [KEY [JSON]]: prints the HTTP status, the body goes to $work/body
  local args=(-s -o "$work/body" -w '%{http_code}' -X "$1")
  [ -z "${3:-}" ] || args+=(-H "Authorization: Bearer $3")
  [ -z "${4:-}" ] || args+=(-H 'Content-Type: application/json' --data "$4")
  curl "${args[@]}" "$base$2" || true  # 000 when it cannot connect
}

first=$run_id-1
start_server "$first"
event='{"topic":"docker.test","data":{"n":1}}'
code=$(status POST /v1/events "" "$event")
[ "$code" = 401 ] || fail "POST /v1/events without a key: $code, not 401"
code=$(status POST /v1/events "$key" "$event")
[ "$code" = 201 ] || fail "POST /v1/events with the key: $code, not 201: $(cat "$work/body")"
id=$(grep -oE '"id":"[^"]+"' "$work/body" | cut -d'"' -f4 || true)
[ -n "$id" ] || fail "no id in $(cat "$work/body")"

podq healthcheck run "$first" > /dev/null || fail "the HEALTHCHECK command failed against a ready server"
uid=$(pod exec "$first" awk '/^Uid:/ {print $2}' /proc/1/status) || fail "podman exec"
[ "$uid" = 10001 ] || fail "the server runs as uid $uid, not 10001"

pod kill -s HUP "$first" > /dev/null
deadline=$((SECONDS + 10))
# The logs go to a file first: grep -q would end the pipe early (pipefail).
logs() { pod logs "$1" > "$work/logs" 2>&1; cat "$work/logs"; }
until logs "$first" | grep 'SIGHUP: .*API keys loaded' > /dev/null; do
  [ $SECONDS -lt $deadline ] || fail "no reload logged within 10 s of SIGHUP"
  sleep 0.2
done
[ "$(pod inspect -f '{{.State.Running}}' "$first")" = true ] || fail "SIGHUP stopped the server"

# SLUICE_SHUTDOWN_DRAIN=8 within podman stop's 10 s: exit 0 from the drain, not 137 from SIGKILL.
stop_start=$SECONDS
podq stop -t 10 "$first" > /dev/null
stop_time=$((SECONDS - stop_start))
exit_code=$(pod inspect -f '{{.State.ExitCode}}' "$first")
[ "$exit_code" = 0 ] || fail "podman stop: exit code $exit_code, not 0 (SIGKILL after the grace period?)"
logs "$first" > /dev/null
grep -q 'SIGTERM received: closing' "$work/logs" || fail "no drain logged on SIGTERM"
grep -q '\] stopped$' "$work/logs" || fail "no 'stopped' logged"

# A new container on the same volumes: the event and the key are still there.
podq rm "$first" > /dev/null
second=$run_id-2
start_server "$second"
code=$(status GET "/v1/events/$id" "$key")
[ "$code" = 200 ] || fail "GET /v1/events/$id in a new container: $code, not 200"
grep -q '"n":1' "$work/body" || fail "the stored event lost its data: $(cat "$work/body")"
podq stop -t 10 "$second" > /dev/null

echo "docker_test: $image: key, /ready, 401/201, healthcheck, uid 10001, SIGHUP, stop in ${stop_time} s, volume: ok"
echo "1 passed, 0 failed"
