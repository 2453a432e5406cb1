#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [LIBFUZZER_OPTION...] — builds the libFuzzer
# target over the checkpoint loader with clang (-DAG_FUZZ=ON, in build-fuzz/)
# and runs it for SECONDS on a working corpus seeded with valid files of
# every dtype and tests/fuzz/corpus. New interesting inputs go to
# build-fuzz/fuzz-work/; merge a few back with
#   build-fuzz/bin/fuzz_safetensors -merge=1 tests/fuzz/corpus build-fuzz/fuzz-work
set -euo pipefail
secs=${1:?usage: run.sh SECONDS [libFuzzer options]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-fuzz"
command -v clang >/dev/null || { echo "run.sh: clang is needed (Debian: apt-get install clang)" >&2; exit 2; }
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DAG_FUZZ=ON -DAG_BUILD_DEMOS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAG_OPENMP=OFF >/dev/null
cmake --build "$build" --target fuzz_safetensors ag-fuzz-replay --parallel 2 >/dev/null
work="$build/fuzz-work"
seeds="$build/fuzz-seeds"
mkdir -p "$work" "$seeds"
"$build/bin/ag-fuzz-replay" --seeds "$seeds"
cd "$build"
exec nice "$build/bin/fuzz_safetensors" -max_total_time="$secs" -max_len=4096 -timeout=10 \
    -rss_limit_mb=2048 "$@" "$work" "$seeds" "$root/tests/fuzz/corpus"
