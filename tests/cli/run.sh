#!/usr/bin/env bash
# tests/cli/run.sh BINDIR — the programs' command lines.
#
# Runs each program of BINDIR with bad arguments and checks that it exits
# with the expected status (2 for a usage error), prints exactly one line on
# stderr that matches the expected message, and leaves no file or directory
# behind (each run starts in an empty scratch directory, and the paths given
# to --out/--plot point into it). Then a few good invocations (--help, --list,
# tiny runs) must exit 0. Every run has a time limit, so a hang fails.
set -u
shopt -s nullglob

bindir=${1:?usage: run.sh BINDIR}
bindir=$(cd "$bindir" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failures=0
cases=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# entries DIR: the names in DIR, one line (bash only: no process per case).
entries() {
    local names=("$1"/* "$1"/.[!.]*)
    echo "${names[*]}"
}

# bad STATUS REGEX PROG ARGS...: PROG ARGS exits with STATUS, its stderr is
# one line matching the extended regex REGEX, and the scratch directory is
# left as it was (only the file the case itself prepared).
bad() {
    local want=$1 re=$2 prog=$3
    shift 3
    cases=$((cases + 1))
    local dir="$scratch/case$cases"
    mkdir "$dir"
    : >"$dir/a-file" # for the cases that give a file where a directory goes
    local before after status
    before=$(entries "$dir")
    (cd "$dir" && timeout 20 "$bindir/$prog" "$@" >"$scratch/out" 2>"$scratch/err")
    status=$?
    after=$(entries "$dir")
    local what="$prog $*" err=()
    mapfile -t err <"$scratch/err"
    if [ "$status" -ne "$want" ]; then
        fail "$what: exit status $status, expected $want"
    fi
    if [ "${#err[@]}" -ne 1 ]; then
        fail "$what: ${#err[@]} lines on stderr, expected 1:"
        printf '    %s\n' "${err[@]}"
    elif ! [[ ${err[0]} =~ $re ]]; then
        fail "$what: stderr '${err[0]}' does not match '$re'"
    fi
    if [ "$before" != "$after" ]; then
        fail "$what: left files behind: $after"
    fi
}

# good PROG ARGS...: exits 0 with nothing on stderr.
good() {
    local prog=$1
    shift
    cases=$((cases + 1))
    local dir="$scratch/case$cases"
    mkdir -p "$dir"
    (cd "$dir" && timeout 20 "$bindir/$prog" "$@" >"$scratch/out" 2>"$scratch/err")
    local status=$?
    if [ "$status" -ne 0 ]; then
        fail "$prog $*: exit status $status, expected 0"
        sed 's/^/    /' "$scratch/err"
    elif [ -s "$scratch/err" ]; then
        fail "$prog $*: wrote on stderr: $(head -c 300 "$scratch/err")"
    fi
}

# ---- the parser, through mlp-demo ------------------------------------------
bad 2 '^mlp-demo: --steps: "5x" is not a whole number$' mlp-demo --steps 5x
bad 2 '^mlp-demo: --steps: "1e300" is not a whole number$' mlp-demo --steps 1e300
bad 2 '^mlp-demo: --steps: 99999999999999999999 is out of range \(1 to 100000000\)$' mlp-demo --steps 99999999999999999999
bad 2 '^mlp-demo: --steps: 0 is out of range' mlp-demo --steps 0
bad 2 '^mlp-demo: --steps: -3 is out of range' mlp-demo --steps -3
bad 2 '^mlp-demo: --steps: -99999999999999999999 is out of range' mlp-demo --steps -99999999999999999999
bad 2 '^mlp-demo: --steps: " 5" is not a whole number$' mlp-demo --steps ' 5'
bad 2 '^mlp-demo: --steps: "\+5" is not a whole number$' mlp-demo --steps +5
bad 2 '^mlp-demo: --steps: "" is not a whole number$' mlp-demo --steps=
bad 2 '^mlp-demo: --steps: needs a value$' mlp-demo --steps
bad 2 '^mlp-demo: --lr: 1e300 is out of range' mlp-demo --lr 1e300
bad 2 '^mlp-demo: --lr: 0 is out of range \(> 0 and <= 100\)$' mlp-demo --lr 0
bad 2 '^mlp-demo: --lr: "nan" is not a finite number$' mlp-demo --lr nan
bad 2 '^mlp-demo: --lr: "inf" is not a finite number$' mlp-demo --lr inf
bad 2 '^mlp-demo: --lr: "0.5x" is not a finite number$' mlp-demo --lr 0.5x
bad 2 '^mlp-demo: --hidden: 1000000000 is out of range' mlp-demo --hidden 1000000000
bad 2 '^mlp-demo: --batch: 16385 is out of range' mlp-demo --batch 16385
bad 2 '^mlp-demo: --seed: "abc" is not a whole number' mlp-demo --seed abc
bad 2 '^mlp-demo: --seed: "-1" is not a whole number' mlp-demo --seed -1
bad 2 '^mlp-demo: --seed: "18446744073709551616" is not' mlp-demo --seed 18446744073709551616
bad 2 '^mlp-demo: unexpected argument "extra"' mlp-demo --steps 5 extra
bad 2 '^mlp-demo: unexpected argument "-x"' mlp-demo -x
bad 2 '^mlp-demo: unknown option "--bogus"' mlp-demo --bogus 3
bad 2 '^mlp-demo: unknown option "--step"' mlp-demo --step 3
# a run that fails says so (it used to exit 1 with nothing on stderr)
bad 1 '^mlp-demo: the mean loss did not fall \(' mlp-demo --lr 100 --steps 20 --hidden 4 --batch 8

# ---- tinygpt ---------------------------------------------------------------
bad 2 '^tinygpt: --seed: "abc" is not a whole number' tinygpt --seed abc --out o
bad 2 '^tinygpt: --embd: 1000000000 is out of range' tinygpt --embd 1000000000 --heads 1 --out o
bad 2 '^tinygpt: --layers: 1000000000 is out of range' tinygpt --layers 1000000000 --out o
bad 2 '^tinygpt: --heads: --embd 48 is not divisible by --heads 5$' tinygpt --heads 5 --out o
bad 2 '^tinygpt: --out: the value is empty$' tinygpt --out ''
bad 2 '^tinygpt: --steps: 0 is out of range' tinygpt --steps 0 --out o
bad 2 '^tinygpt: --lr: 1e300 is out of range' tinygpt --lr 1e300 --out o
bad 2 '^tinygpt: --block: 1 is out of range' tinygpt --block 1 --out o
bad 2 '^tinygpt: --gradcheck-samples: 65 is out of range' tinygpt --gradcheck-samples 65 --out o
bad 2 '^tinygpt: unexpected argument "words.txt"' tinygpt words.txt --out o
bad 2 '^tinygpt: --layers 64 --embd 4096 --heads 1 --batch 32 --block 16 need about [0-9]+ GiB; at most 4$' \
    tinygpt --layers 64 --embd 4096 --heads 1 --out o
bad 2 '^tinygpt: --norm: "llamma" is not a norm' tinygpt --norm llamma --out o
bad 2 '^tinygpt: --act: "gelu2" is not one of' tinygpt --act gelu2 --out o
bad 2 '^tinygpt: --warmup: 10 is longer than --steps 5$' tinygpt --steps 5 --warmup 10 --out o
bad 1 '^tinygpt: cannot open no-such-file: ' tinygpt --data no-such-file --out o
bad 1 '^tinygpt: a-file has 0 usable item' tinygpt --data a-file --out o
bad 1 '^tinygpt: \. is a directory: expected a text file' tinygpt --data . --out o
# an output folder that cannot be made is found before training, not after
bad 1 '^tinygpt: cannot create a-file: Not a directory$' tinygpt --steps 1 --out a-file
bad 1 '^tinygpt: cannot create a-file/o: Not a directory$' tinygpt --steps 1 --out a-file/o
bad 2 '^tinygpt: --dtype: "f16" is not one of' tinygpt --dtype f16 --out o
bad 2 '^tinygpt: --bucket-kb: 0 is out of range' tinygpt --bucket-kb 0 --out o
bad 2 '^tinygpt: --dist-timeout: 0 is out of range' tinygpt --dist-timeout 0 --out o
bad 2 '^tinygpt: --loss-log: the value is empty$' tinygpt --loss-log '' --out o
bad 2 '^tinygpt: --no-overlap: takes no value' tinygpt --no-overlap=1 --out o
bad 2 '^tinygpt: --save-every: needs --save DIR$' tinygpt --save-every 5 --out o
bad 2 '^tinygpt: --stop-after: 500 is past --steps 100$' tinygpt --steps 100 --stop-after 500 --out o
bad 1 '^tinygpt: --resume: ag: safetensors: no-such-dir/model.safetensors: cannot open: No such file' tinygpt --resume no-such-dir --out o
bad 1 '^tinygpt: cannot save the checkpoint: ' tinygpt --steps 2 --gradcheck-every 0 --eval-words 10 --samples 0 --save a-file/ck --out o
bad 2 '^tinygpt: --beta1: 1 is out of range \(>= 0 and < 1\)$' tinygpt --beta1 1 --out o
bad 2 '^tinygpt: --beta1: -0.1 is out of range' tinygpt --beta1 -0.1 --out o
bad 2 '^tinygpt: --beta2: 1 is out of range \(>= 0 and < 1\)$' tinygpt --beta2 1 --out o
bad 2 '^tinygpt: --beta2: "nan" is not a finite number$' tinygpt --beta2 nan --out o
bad 2 '^tinygpt: --min-lr-frac: 1.5 is out of range' tinygpt --min-lr-frac 1.5 --out o
bad 2 '^tinygpt: --min-lr-frac: -1 is out of range' tinygpt --min-lr-frac -1 --out o
bad 2 '^tinygpt: --clip: -1 is out of range' tinygpt --clip -1 --out o
bad 2 '^tinygpt: --clip: "x" is not a finite number$' tinygpt --clip x --out o

# ---- bench-ddp ---------------------------------------------------------------
bad 2 '^bench-ddp: --steps: "5x" is not a whole number' bench-ddp --steps 5x
bad 2 '^bench-ddp: --heads: --embd 128 is not divisible by --heads 3$' bench-ddp --heads 3
bad 2 '^bench-ddp: --batch: 0 is out of range' bench-ddp --batch 0
bad 2 '^bench-ddp: --bucket-kb: 0 is out of range' bench-ddp --bucket-kb 0
bad 2 '^bench-ddp: unknown option "--ranks"' bench-ddp --ranks 2
bad 2 '^bench-ddp: unexpected argument "2"' bench-ddp 2

# ---- optim-rosenbrock ------------------------------------------------------
bad 2 '^optim-rosenbrock: --opt: "sgdd" is not one of sgd, adam, adamw$' optim-rosenbrock --opt sgdd
bad 2 '^optim-rosenbrock: --steps: -1 is out of range' optim-rosenbrock --steps -1
bad 2 '^optim-rosenbrock: --start: "1" is not two finite numbers' optim-rosenbrock --start 1
bad 2 '^optim-rosenbrock: --start: "1,2,3" is not two finite numbers' optim-rosenbrock --start 1,2,3
bad 2 '^optim-rosenbrock: --lr: 1e999 is out of range \(too large for a double\)$' optim-rosenbrock --lr 1e999
bad 2 '^optim-rosenbrock: --lr: 1e-400 is out of range \(it underflows to 0\)$' optim-rosenbrock --lr 1e-400
bad 2 '^mlp-demo: --lr: 1e-400 is out of range \(it underflows to 0\)$' mlp-demo --lr 1e-400
# a run that diverges is a failure: its line, exit 1 (stdout has the steps)
bad 1 '^optim-rosenbrock: AdamW diverged \(f is nan\); try a smaller --lr$' optim-rosenbrock --lr 1e300
bad 1 '^optim-rosenbrock: AdamW diverged \(f is nan\)' optim-rosenbrock --weight-decay 1e300
bad 2 '^optim-rosenbrock: --plot: the value is empty$' optim-rosenbrock --plot ''
bad 2 '^optim-rosenbrock: --nesterov: takes no value$' optim-rosenbrock --nesterov=1
bad 2 '^optim-rosenbrock: unexpected argument "adam"' optim-rosenbrock adam
bad 2 '^optim-rosenbrock: --plot: cannot create directory "a-file/p": ' optim-rosenbrock --plot a-file/p
# the plot folder is tried (made and removed) before the run, made after it
bad 1 '^ag: adamw_new: invalid learning rate -1' optim-rosenbrock --lr -1 --plot new/p

# ---- rmsnorm-tour ----------------------------------------------------------
bad 2 '^rmsnorm-tour: --seed: "abc" is not a whole number' rmsnorm-tour --seed abc
bad 2 '^rmsnorm-tour: --threads: "abc" is not a whole number' rmsnorm-tour --threads abc
bad 2 '^rmsnorm-tour: --threads: 0 is out of range' rmsnorm-tour --threads 0
bad 2 '^rmsnorm-tour: unexpected argument "quick"' rmsnorm-tour quick

# ---- bench-norms -----------------------------------------------------------
bad 2 '^bench-norms: --threads: "abc" is not a whole number' bench-norms --threads abc
bad 2 '^bench-norms: --shapes: "4x8," ends with a comma$' bench-norms --shapes 4x8,
bad 2 '^bench-norms: --shapes: 999999999x8: .*rows\*dim <= 268435456$' bench-norms --shapes 999999999x8
bad 2 '^bench-norms: --shapes: "99999999999999999999x8" is not a list' bench-norms --shapes 99999999999999999999x8
bad 2 '^bench-norms: --shapes: 4611686018427387904x8: ' bench-norms --shapes 4611686018427387904x8
bad 2 '^bench-norms: --shapes: dim 12 is not a multiple of 8$' bench-norms --shapes 4x12 --plot new/p
bad 2 '^bench-norms: --shapes: "x8" is not a list' bench-norms --shapes x8
bad 2 '^bench-norms: --shapes: "4x" is not a list' bench-norms --shapes 4x
bad 2 '^bench-norms: --shapes: "4x8,,4x8" is not a list' bench-norms --shapes 4x8,,4x8
bad 2 '^bench-norms: --shapes: 0x8: ' bench-norms --shapes 0x8
bad 2 '^bench-norms: --reps: 4 is out of range' bench-norms --reps 4
bad 2 '^bench-norms: --plot: the value is empty$' bench-norms --plot ''
bad 2 '^bench-norms: --plot: cannot create directory "a-file": ' bench-norms --shapes 4x8 --plot a-file
bad 2 '^bench-norms: --plot: cannot create directory "a-file/sub": ' bench-norms --shapes 4x8 --plot a-file/sub
bad 2 '^bench-norms: --plot: cannot create directory "/proc/no/such": ' bench-norms --shapes 4x8 --plot /proc/no/such
bad 2 '^bench-norms: unexpected argument "4x8"' bench-norms 4x8

# ---- bench-optim -----------------------------------------------------------
bad 2 '^bench-optim: --params: "1e20" is not a whole number' bench-optim --params 1e20
bad 2 '^bench-optim: --params: 99999999999999999999 is out of range' bench-optim --params 99999999999999999999
bad 2 '^bench-optim: --params: 0 is out of range' bench-optim --params 0
bad 2 '^bench-optim: --params: 999999999 is out of range' bench-optim --params 999999999
bad 2 '^bench-optim: --steps: 4 is out of range' bench-optim --steps 4
bad 2 '^bench-optim: unexpected argument "10"' bench-optim 10

# ---- bench-train -----------------------------------------------------------
bad 2 '^bench-train: --config: "tiny" is not one of micro, small, all$' bench-train --config tiny
bad 2 '^bench-train: --threads: "abc" is not a whole number' bench-train --threads abc
bad 2 '^bench-train: --groups: 4 is out of range' bench-train --groups 4
bad 2 '^bench-train: --csv: takes no value$' bench-train --csv=yes
bad 2 '^bench-train: unexpected argument "micro"' bench-train micro
bad 2 '^bench-train: --batch: makes the config "custom": not with --config$' bench-train --config small --batch 8
bad 2 '^bench-train: --n-head: --n-embd 10 is not divisible by --n-head 4$' bench-train --n-embd 10
bad 2 '^bench-train: --n-embd: not with --scale' bench-train --scale --n-embd 64
bad 2 '^bench-train: --config: not with --scale' bench-train --scale --config micro
bad 2 '^bench-train: --plot: needs --scale$' bench-train --plot p
bad 2 '^bench-train: --torch-csv: needs --plot DIR$' bench-train --scale --torch-csv t.csv
bad 2 '^bench-train: --plot: cannot create directory "a-file/p": ' bench-train --scale --plot a-file/p
bad 2 '^bench-train: --batch: 0 is out of range' bench-train --batch 0

# ---- bench-ckpt --------------------------------------------------------------
bad 2 '^bench-ckpt: --mparams: 0 is out of range' bench-ckpt --mparams 0
bad 2 '^bench-ckpt: --mparams: "abc" is not a whole number' bench-ckpt --mparams abc
bad 2 '^bench-ckpt: --repeat: 0 is out of range' bench-ckpt --repeat 0
bad 2 '^bench-ckpt: --dir: no-such-dir is not a folder$' bench-ckpt --dir no-such-dir
bad 2 '^bench-ckpt: --dir: a-file is not a folder$' bench-ckpt --dir a-file
bad 2 '^bench-ckpt: unknown option "--bogus"' bench-ckpt --bogus
bad 2 '^bench-ckpt: unexpected argument "extra"' bench-ckpt extra

# ---- hessian -------------------------------------------------------------------
bad 2 '^hessian: --steps: 0 is out of range' hessian --steps 0
bad 2 '^hessian: --every: 50 is longer than --steps 10$' hessian --every 50 --steps 10
bad 2 '^hessian: --layers: 9 is out of range \(1 to 8\)$' hessian --layers 9
bad 2 '^hessian: --points: 4097 is out of range' hessian --points 4097
bad 2 '^hessian: --tol: 0 is out of range \(> 0 and <= 1\)$' hessian --tol 0
bad 2 '^hessian: --lambda: "nan" is not a finite number$' hessian --lambda nan
bad 2 '^hessian: --gp-steps: -1 is out of range' hessian --gp-steps -1
bad 2 '^hessian: --out: the value is empty$' hessian --out=
bad 2 '^hessian: --out: cannot create directory "a-file": ' hessian --out a-file
bad 2 '^hessian: --out: cannot create directory "a-file/o": ' hessian --out a-file/o
bad 2 '^hessian: unexpected argument "extra"' hessian extra
bad 2 '^hessian: unknown option "--bogus"' hessian --bogus

# ---- bench-vmath --------------------------------------------------------------
bad 2 '^bench-vmath: --elements: 0 is out of range' bench-vmath --elements 0
bad 2 '^bench-vmath: --elements: 67108865 is out of range' bench-vmath --elements 67108865
bad 2 '^bench-vmath: --elements: "1M" is not a whole number' bench-vmath --elements 1M
bad 2 '^bench-vmath: --reps: 4 is out of range' bench-vmath --reps 4
bad 2 '^bench-vmath: --reps: needs a value$' bench-vmath --reps
bad 2 '^bench-vmath: unknown option "--n"' bench-vmath --n 10
bad 2 '^bench-vmath: unexpected argument "1000"' bench-vmath 1000

# ---- the README's two programs take no arguments -------------------------
for a in --bogus extra --help; do
    bad 2 '^readme-example: takes no arguments$' readme-example "$a"
    bad 2 '^train-example: takes no arguments$' train-example "$a"
done

# ---- ag-gradcheck ----------------------------------------------------------
bad 2 '^ag-gradcheck: --only: no case is named "no-such-op" \(see --list\)$' ag-gradcheck --only no-such-op
bad 2 '^ag-gradcheck: --only: no case is named "Add"' ag-gradcheck --only add --only Add
bad 2 '^ag-gradcheck: --seed: "abc" is not a whole number' ag-gradcheck --seed abc
bad 2 '^ag-gradcheck: unknown option "--al"' ag-gradcheck --al
bad 2 '^ag-gradcheck: unexpected argument "add"' ag-gradcheck add

# ---- good invocations --------------------------------------------------------
for p in mlp-demo tinygpt optim-rosenbrock rmsnorm-tour bench-norms bench-optim bench-train \
         bench-ddp bench-ckpt bench-vmath ag-gradcheck hessian; do
    good "$p" --help
    if ! grep -q "^usage: $p \[options\]" "$scratch/out"; then fail "$p --help: no usage line"; fi
done
good ag-gradcheck --list
good ag-gradcheck --only add --seed 3
if ! grep -q '^[1-9][0-9]* passed, 0 failed$' "$scratch/out"; then
    fail "ag-gradcheck --only add: no passing summary"
fi
good optim-rosenbrock --steps 5 --opt=sgd --start=0.5,-1e-1
good bench-optim --params 1000 --steps 5
good bench-vmath --elements 1000 --reps 5
if ! grep -q '^gelu fwd+bwd ' "$scratch/out"; then fail "bench-vmath: no gelu line"; fi
# width 1: RMSNorm of one element turns within the check's step; the
# gradient is right, and the check must settle its step and pass
good tinygpt --steps 1 --embd 1 --heads 1 --out o
# the reference schedule's flags: no clipping, cosine to zero, betas given
good tinygpt --steps 3 --warmup 1 --min-lr-frac 0 --clip 0 --beta1 0.8 --beta2 0.99 --block 23 \
    --embd 8 --heads 2 --batch 4 --gradcheck-every 0 --eval-words 10 --samples 0 --out o
if ! grep -q 'cosine to 0), betas (0.8, 0.99), .*no gradient clipping$' "$scratch/out"; then
    fail "tinygpt --clip 0 --min-lr-frac 0 --beta1 0.8 --beta2 0.99: not in the run header"
fi
good mlp-demo --steps 300 --hidden 8 --batch 32 --seed=7
good bench-ddp --layers 1 --embd 16 --block 8 --batch 4 --steps 2 --warmup 1
# every product and the gradient penalty's check, on a tiny model
good hessian --steps 2 --every 1 --hidden 4 --layers 1 --points 16 --iters 3 --gp-steps 1 --out o
# --out below an existing empty folder: the check that --out can be made
# removes only what it made, so --save beside it still finds the folder
mkdir "$scratch/empty"
good tinygpt --steps 2 --embd 8 --heads 2 --batch 4 --gradcheck-every 0 --eval-words 10 \
    --samples 0 --out "$scratch/empty/o" --save "$scratch/empty/ck"
if [ ! -d "$scratch/empty/ck" ]; then fail "tinygpt --out EMPTY/o --save EMPTY/ck: no checkpoint"; fi

echo "$cases command lines, $failures failed"
[ "$failures" -eq 0 ]
