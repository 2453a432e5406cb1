#!/usr/bin/env bash
# tests/interop/run.sh AG_INTEROP — ag and PyTorch on the same tiny GPT.
#
#   1. ag's checkpoint loads into the PyTorch model with
#      load_state_dict(strict=True) and gives the same loss on the same
#      batch (f64: 1e-12 relative);
#   2. PyTorch's own initialisation, saved by PyTorch, loads into ag
#      (strict) and gives the same loss (f64: 1e-12);
#   3. the trajectory: from the same weights on the same batches, with
#      AdamW, clipping and the same schedule, 50 steps: in f64 the loss of
#      every step within 1e-9 relative and every final parameter within
#      1e-8; in f32 the losses within 1e-4. The step-by-step table is
#      printed.
#
# Needs a python3 that imports torch (Debian: python3-torch); without one
# the test prints "skipped: ..." and exits 77, which CTest reports as
# skipped, not passed.
set -u
agx=${1:?usage: run.sh AG_INTEROP}
here=$(cd "$(dirname "$0")" && pwd)
py=
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c "import torch" 2>/dev/null; then
        py=$p
        break
    fi
done
if [ -z "$py" ]; then
    echo "skipped: no python3 with torch (Debian: python3-torch)"
    exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
tp=("$py" "$here/tinygpt_torch.py")
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# rel A B: |A - B| / |B|
rel() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; if (b < 0) b = -b; printf "%.3g", b ? d / b : d }'; }
# le X TOL: X <= TOL
le() { awk -v x="$1" -v t="$2" 'BEGIN { exit !(x <= t) }'; }

"$agx" init f64 "$dir/ag64.st" "$dir/batches.txt" || fail "ag init"
a=$("$agx" loss "$dir/ag64.st" "$dir/batches.txt")
t=$("${tp[@]}" loss "$dir/ag64.st" "$dir/batches.txt")
r=$(rel "$a" "$t")
if le "$r" 1e-12; then echo "1. ag's weights in PyTorch (strict): loss ag $a, torch $t, relative $r"
else fail "ag's weights: loss ag $a, torch $t, relative $r > 1e-12"; fi

"${tp[@]}" export "$dir/ag64.st" "$dir/torch64.st" 3 || fail "torch export"
a=$("$agx" loss "$dir/torch64.st" "$dir/batches.txt")
t=$("${tp[@]}" loss "$dir/torch64.st" "$dir/batches.txt")
r=$(rel "$a" "$t")
if le "$r" 1e-12; then echo "2. PyTorch's weights in ag (strict): loss ag $a, torch $t, relative $r"
else fail "PyTorch's weights: loss ag $a, torch $t, relative $r > 1e-12"; fi

# trajectory DTYPE LOSS_TOL PARAM_TOL (PARAM_TOL "-": not compared)
trajectory() {
    local dt=$1 ltol=$2 ptol=$3
    "$agx" init "$dt" "$dir/init$dt.st" "$dir/batches.txt" || fail "ag init $dt"
    "$agx" train "$dir/init$dt.st" "$dir/batches.txt" 50 0.01 "$dir/ag$dt.txt" "$dir/agfinal$dt.st" ||
        fail "ag train $dt"
    "${tp[@]}" trajectory "$dir/init$dt.st" "$dir/batches.txt" 50 0.01 "$dir/torch$dt.txt" \
        "$dir/torchfinal$dt.st" || fail "torch train $dt"
    echo "3. trajectory, $dt: step, loss in ag, loss in PyTorch, relative difference"
    paste "$dir/ag$dt.txt" "$dir/torch$dt.txt" | awk -v tol="$ltol" '
        { d = ($2 - $4) / $4; if (d < 0) d = -d; if (d > m) m = d
          if (NR <= 5 || NR % 10 == 0) printf "   %3d  %.15f  %.15f  %.2e\n", $1, $2, $4, d }
        END { printf "   worst relative difference over %d steps: %.2e (at most %s)\n", NR, m, tol
              exit !(NR == 50 && m <= tol) }' || fail "$dt: the losses differ by more than $ltol"
    if [ "$ptol" != - ]; then
        "${tp[@]}" compare "$dir/agfinal$dt.st" "$dir/torchfinal$dt.st" "$ptol" ||
            fail "$dt: the final parameters differ by more than $ptol"
    fi
}
trajectory f64 1e-9 1e-8
trajectory f32 1e-4 -
exit $((failures > 0))
