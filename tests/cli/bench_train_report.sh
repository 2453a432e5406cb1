#!/usr/bin/env bash
# tests/cli/bench_train_report.sh BENCH_TRAIN — bench-train's report on the
# micro config (--groups 5): the step table with its matmul floor, the table
# by op kind with each kind's products replayed alone, and the CSV with
# floor_ms as its last column. The calls per
# step of the kinds outside attention are counted by hand from the model
# (demos/common/tinygpt_model.c, 1 layer): RMSNorm before attention, before
# the MLP and at the end (3), one GELU, token and position embeddings (2),
# one cross-entropy. No figure is checked, only that there is one.
set -u
exe=${1:?usage: bench_train_report.sh BENCH_TRAIN}
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
# expect TEXT REGEX WHAT: a line of TEXT matches the extended regex.
expect() {
    grep -Eq -- "$2" <<<"$1" || fail "$3: no line matching '$2'"
}

out=$(timeout 120 "$exe" --config micro --groups 5 2>&1)
status=$?
echo "$out"
[ "$status" -eq 0 ] || fail "bench-train --config micro --groups 5: exit status $status"
num='[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?'
expect "$out" '^config .* floor ms  step/floor ' "the step table's header"
expect "$out" "^micro +1 +16 +4 +16 +1 .* $num +${num}x +[0-9]+ x [0-9]+$" \
    "the micro row's floor and step/floor"
expect "$out" '^micro: by op kind, mean of [0-9]+ profiled steps' "the table by op kind"
expect "$out" '^  op kind +calls +forward us +backward us +total us +share +products us$' \
    "its header"
for row in 'rms_norm +3 ' 'gelu +1 ' 'embedding +2 ' 'cross_entropy +1 ' 'linear +[0-9]+ ' \
           'optimizer \(AdamW, zero_grad\) +- +- +- ' 'outside ops +- '; do
    expect "$out" "^  $row.* $num% +(-|$num)\$" "the row $row"
done
# the products column: linear's products have a time, GELU makes none
expect "$out" "^  linear +[0-9]+ .* $num% +$num\$" "linear's products"
expect "$out" "^  gelu +1 .* $num% +-\$" "GELU's products (none)"

csv=$(timeout 120 "$exe" --config micro --groups 5 --csv 2>&1)
status=$?
[ "$status" -eq 0 ] || fail "bench-train --csv: exit status $status"
expect "$csv" '^impl,config,threads,ms,tokens_per_s,floor_ms$' "the CSV header"
expect "$csv" "^ag,micro,1,$num,$num,$num\$" "the CSV row"

csv=$(timeout 120 "$exe" --batch 2 --n-embd 8 --n-layer 1 --n-head 2 --block 4 --groups 5 \
    --csv 2>&1)
expect "$csv" "^ag,custom,1,$num,$num,$num\$" "the custom config's CSV row"

echo "bench-train report: $failures failed"
[ "$failures" -eq 0 ]
