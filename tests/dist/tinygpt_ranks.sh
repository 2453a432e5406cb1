#!/usr/bin/env bash
# tests/dist/tinygpt_ranks.sh MPIEXEC TINYGPT — tinygpt on two ranks follows
# tinygpt in one process on the same global batch: the batch loss of every
# step within 1e-4 relative in f32 (100 steps of the default model) and
# 1e-10 in f64 (100 steps of a small model).
set -u
# Open MPI refuses to start as root unless told twice.
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
mpiexec=${1:?usage: tinygpt_ranks.sh MPIEXEC TINYGPT}
tinygpt=${2:?usage: tinygpt_ranks.sh MPIEXEC TINYGPT}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
common=(--steps 100 --batch 32 --gradcheck-every 0 --eval-every 100 --eval-words 100 --samples 0)
failures=0

# compare NAME TOLERANCE EXTRA...: one process against two ranks.
compare() {
    local name=$1 tol=$2
    shift 2
    "$tinygpt" "${common[@]}" "$@" --out "$dir/$name-1" --loss-log "$dir/$name-1.txt" \
        >"$dir/$name-1.out" || { echo "FAIL: $name: one process failed"; failures=$((failures + 1)); return; }
    timeout 300 "$mpiexec" -n 2 --oversubscribe "$tinygpt" "${common[@]}" "$@" \
        --out "$dir/$name-2" --loss-log "$dir/$name-2.txt" >"$dir/$name-2.out" ||
        { echo "FAIL: $name: two ranks failed"; failures=$((failures + 1)); return; }
    grep -q "data parallel over 2 ranks" "$dir/$name-2.out" ||
        { echo "FAIL: $name: the two-rank run did not say it ran on 2 ranks"; failures=$((failures + 1)); }
    local worst
    worst=$(paste "$dir/$name-1.txt" "$dir/$name-2.txt" |
        awk '$1 != $3 { bad = 1 } { d = ($2 - $4) / $2; if (d < 0) d = -d; if (d > m) m = d }
             END { if (bad || NR != 100) print "bad"; else printf "%.3g\n", m }')
    if [ "$worst" = bad ] || awk -v w="$worst" -v t="$tol" 'BEGIN { exit !(w > t) }'; then
        echo "FAIL: $name: two ranks differ from one process by $worst (relative; at most $tol)"
        failures=$((failures + 1))
    else
        echo "$name: 100 steps, two ranks within $worst of one process (at most $tol)"
    fi
}

compare f32 1e-4
compare f64 1e-10 --dtype f64 --layers 1 --embd 16 --heads 2
exit $((failures > 0))
