#!/usr/bin/env bash
# Builds bench/peers/uws_broadcast.cpp against uWebSockets and uSockets, from
# their own sources, outside the repository (they are never vendored):
#
#   bench/peers/build_uws_peer.sh [--zlib] OUT_DIR
#
# Sources: git dirs named by UWS_GIT and USOCKETS_GIT (e.g. bare clones), or
# else clones of github.com/uNetworking/{uWebSockets,uSockets} made in
# OUT_DIR/src. Builds as uWebSockets' own examples do (-O3 -flto, epoll, no
# SSL, no zlib) and writes OUT_DIR/uws_broadcast and OUT_DIR/uws_broadcast.version.
# --zlib: with zlib (permessage-deflate, `uws_broadcast --deflate on`), as
# OUT_DIR/uws_broadcast_zlib and OUT_DIR/uws_broadcast_zlib.version; needs
# zlib's headers (Debian: zlib1g-dev).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
zlib=0
if [[ ${1:-} == --zlib ]]; then zlib=1; shift; fi
out=$(realpath -m "${1:?usage: build_uws_peer.sh [--zlib] OUT_DIR}")
src="$out/src"
mkdir -p "$src"
for repo in uWebSockets uSockets; do
  var=UWS_GIT
  [[ $repo == uSockets ]] && var=USOCKETS_GIT
  if [[ -z ${!var:-} ]]; then
    if [[ ! -d $src/$repo.git ]]; then
      echo "build_uws_peer: cloning uNetworking/$repo into $src" >&2
      timeout 300 git clone --quiet --bare "https://github.com/uNetworking/$repo" "$src/$repo.git"
    fi
    printf -v "$var" '%s' "$src/$repo.git"
  fi
done
rm -rf "$src/tree" && mkdir -p "$src/tree/uSockets"
git --git-dir="$UWS_GIT" archive HEAD | tar x -C "$src/tree"
rm -rf "$src/tree/uSockets" && mkdir -p "$src/tree/uSockets"
git --git-dir="$USOCKETS_GIT" archive HEAD | tar x -C "$src/tree/uSockets"
make -C "$src/tree/uSockets" WITH_OPENSSL=0 WITH_LTO=1 > "$out/usockets-build.log" 2>&1
binary="$out/uws_broadcast" zlib_flags=(-DUWS_NO_ZLIB) zlib_libs=()
if [[ $zlib == 1 ]]; then
  binary="$out/uws_broadcast_zlib" zlib_flags=() zlib_libs=(-lz)
fi
g++ -std=c++20 -O3 -flto -march=native "${zlib_flags[@]}" -DLIBUS_NO_SSL -w \
    -I"$src/tree/src" -I"$src/tree/uSockets/src" \
    "$here/uws_broadcast.cpp" "$src/tree/uSockets/uSockets.a" "${zlib_libs[@]}" -o "$binary"
echo "uWebSockets $(git --git-dir="$UWS_GIT" rev-parse HEAD), uSockets $(git --git-dir="$USOCKETS_GIT" rev-parse HEAD)" \
  > "$binary.version"
echo "built $binary ($(cat "$binary.version"))"
