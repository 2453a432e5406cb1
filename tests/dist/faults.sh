#!/usr/bin/env bash
# tests/dist/faults.sh MPIEXEC TINYGPT — a rank that fails never leaves the
# others hanging: each case must end the whole job with a non-zero status
# within 30 s, and say why on stderr.
#   - a bad argument on one rank only;
#   - a model that differs between ranks (named by the parameter);
#   - a rank killed mid-run (kill -9);
#   - a rank stopped mid-run (SIGSTOP): the others time out (--dist-timeout).
set -u
# Open MPI refuses to start as root unless told twice.
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
mpiexec=${1:?usage: faults.sh MPIEXEC TINYGPT}
tinygpt=${2:?usage: faults.sh MPIEXEC TINYGPT}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
run=(--steps 100000 --batch 8 --gradcheck-every 0 --eval-every 100000 --samples 0 --out "$dir/out")
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# ends NAME REGEX SECONDS: the job started in the background as $job ends
# within SECONDS, with a non-zero status and REGEX on its stderr ($dir/err).
ends() {
    local name=$1 re=$2 limit=$3 t=0
    while kill -0 "$job" 2>/dev/null && [ "$t" -lt "$((limit * 10))" ]; do
        sleep 0.1
        t=$((t + 1))
    done
    if kill -0 "$job" 2>/dev/null; then
        fail "$name: the job still runs after $limit s"
        pkill -KILL -P "$job" 2>/dev/null
        kill -KILL "$job" 2>/dev/null
        wait "$job" 2>/dev/null
        return
    fi
    wait "$job"
    local status=$?
    [ "$status" -ne 0 ] || fail "$name: the job exited 0"
    grep -Eq "$re" "$dir/err" || { fail "$name: stderr does not match '$re':"; sed 's/^/    /' "$dir/err"; }
    [ "$failures" -gt 0 ] || echo "$name: the job ended in $((t / 10)).$((t % 10)) s with status $status; stderr begins: $(head -c 300 "$dir/err" | tr "\n" " ")"
}

# The pid of rank R among the job's processes (mpiexec's children and their
# children), from its environment; tries for up to 10 s. Nothing when absent.
rank_pid() {
    local p kids t=0
    while [ "$t" -lt 100 ]; do
        kids=$(pgrep -P "$job")
        for p in $kids $(for k in $kids; do pgrep -P "$k"; done); do
            if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
                echo "$p"
                return
            fi
        done
        sleep 0.1
        t=$((t + 1))
    done
}

# wait_training: until rank 0 has printed its plan (the ranks are past
# ag_dist_new and training), at most 20 s.
wait_training() {
    local t=0
    until grep -q "steps of" "$dir/out0" 2>/dev/null || [ "$t" -ge 200 ]; do
        sleep 0.1
        t=$((t + 1))
    done
    sleep 1
}

"$mpiexec" -n 1 "$tinygpt" "${run[@]}" : -n 1 "$tinygpt" "${run[@]}" --steps abc \
    >/dev/null 2>"$dir/err" &
job=$!
ends "bad argument on rank 1" 'tinygpt: --steps: "abc"' 30

"$mpiexec" -n 1 "$tinygpt" "${run[@]}" --embd 16 : -n 1 "$tinygpt" "${run[@]}" --embd 32 \
    >/dev/null 2>"$dir/err" &
job=$!
ends "another model on rank 1" \
    'rank 1 has another model than rank 0: parameter 0 is wte.weight f32 \[[0-9]+,32\] here and wte.weight f32 \[[0-9]+,16\] on rank 0' 30

# signal_rank1 SIGNAL ARGS...: two ranks training with ARGS; once they
# train, rank 1 gets SIGNAL. Sets job and victim.
signal_rank1() {
    local sig=$1
    shift
    "$mpiexec" -n 2 --oversubscribe "$tinygpt" "${run[@]}" "$@" >"$dir/out0" 2>"$dir/err" &
    job=$!
    wait_training
    victim=$(rank_pid 1)
    if [ -z "$victim" ]; then
        fail "$sig: rank 1 not found; the job's stderr: $(head -c 600 "$dir/err")"
    else
        kill "-$sig" "$victim"
    fi
}

signal_rank1 KILL
ends "rank 1 killed" '.' 30

signal_rank1 STOP --dist-timeout 3
ends "rank 1 stopped" 'ag: dist: rank 0: no answer from the other ranks after 3 s' 30
[ -n "$victim" ] && kill -KILL "$victim" 2>/dev/null
exit $((failures > 0))
