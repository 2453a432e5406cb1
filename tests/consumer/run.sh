#!/usr/bin/env bash
# Install ag into a scratch prefix and build an outside program against it,
# once with find_package(ag) and once with pkg-config.
#
#   tests/consumer/run.sh CMAKE BUILD_DIR [C_COMPILER] [CONFIG]
#
# Registered as the CTest test install-consumer (not in sanitizer builds).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 CMAKE BUILD_DIR [C_COMPILER] [CONFIG]" >&2
    exit 2
fi
cmake_cmd=$1
build_dir=$(cd "$2" && pwd)
cc_cmd=${3:-${CC:-cc}}
config=${4:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=$(cd "$here/../.." && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ag-consumer.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
prefix=$tmp/prefix

fail() { echo "install-consumer: FAIL: $*" >&2; exit 1; }

echo "== cmake --install $build_dir --prefix $prefix"
config_args=()
if [ -n "$config" ]; then
    config_args=(--config "$config")
fi
"$cmake_cmd" --install "$build_dir" --prefix "$prefix" "${config_args[@]}"

# What was installed: public headers yes, the private header no, and no path
# into the source or build tree in the package files.
[ -f "$prefix/include/ag/ag.h" ] || fail "include/ag/ag.h was not installed"
if find "$prefix" -name internal.h | grep -q .; then
    fail "the private internal.h was installed"
fi
config_file=$(find "$prefix" -name agConfig.cmake -print -quit)
pc_file=$(find "$prefix" -name ag.pc -print -quit)
[ -n "$config_file" ] || fail "agConfig.cmake was not installed"
[ -n "$pc_file" ] || fail "ag.pc was not installed"
pkg_dir=$(dirname "$config_file")
for tree in "$build_dir" "$src_dir"; do
    if grep -rlF "$tree" "$pkg_dir" "$pc_file"; then
        fail "installed package files refer to $tree"
    fi
done

echo "== find_package(ag): configure and build tests/consumer"
"$cmake_cmd" -S "$here" -B "$tmp/build" \
    -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc_cmd" \
    -DCMAKE_BUILD_TYPE=Release
"$cmake_cmd" --build "$tmp/build"
consumer=$(find "$tmp/build" -type f -name consumer -perm -u+x -print -quit)
[ -n "$consumer" ] || fail "the consumer program was not built"
"$consumer"

echo "== pkg-config ag: build main.c by hand"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc_file")
pkg-config --exists ag || fail "pkg-config does not find ag in $PKG_CONFIG_PATH"
read -r -a pc_flags <<<"$(pkg-config --cflags --libs ag)"
echo "pkg-config --cflags --libs ag: ${pc_flags[*]}"
"$cc_cmd" -std=c11 -Wall -Wextra -Wpedantic -Werror \
    "$here/main.c" "${pc_flags[@]}" -o "$tmp/consumer-pc"
libdir=$(pkg-config --variable=libdir ag)
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/consumer-pc"

echo "install-consumer: ok"
