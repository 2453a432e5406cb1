#!/usr/bin/env bash
# tests/checkpoint/tinygpt_resume.sh TINYGPT — tinygpt stopped after 100 of
# 200 steps and resumed from its checkpoint equals the straight 200-step
# run bit for bit: the batch loss of every step (all 17 digits) and the
# final checkpoint files (model and optimizer state), byte for byte. Then a
# checkpoint of another model is refused by name.
set -u
tinygpt=${1:?usage: tinygpt_resume.sh TINYGPT}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
run=(--steps 200 --batch 16 --gradcheck-every 0 --eval-every 100 --eval-words 100 --samples 0)
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

"$tinygpt" "${run[@]}" --out a --loss-log straight.txt --save straight >/dev/null ||
    fail "the straight run failed"
"$tinygpt" "${run[@]}" --out b --loss-log first.txt --save half --stop-after 100 >/dev/null ||
    fail "the first half failed"
"$tinygpt" "${run[@]}" --out c --loss-log second.txt --save resumed --resume half >out.txt ||
    fail "the resumed run failed"
grep -q "^resumed from half at step 100 of 200$" out.txt || fail "no 'resumed' line"
cat first.txt second.txt >halves.txt
if [ "$(wc -l <straight.txt)" -ne 200 ] || ! cmp -s straight.txt halves.txt; then
    fail "the losses differ:"
    diff straight.txt halves.txt | head -5
else
    echo "200 losses equal, all digits"
fi
for f in model optimizer; do
    if cmp -s "straight/$f.safetensors" "resumed/$f.safetensors"; then
        echo "$f.safetensors equal, byte for byte"
    else
        fail "$f.safetensors differs between the straight and the resumed run"
    fi
done

# another model: the checkpoint names what differs; nothing is written
"$tinygpt" "${run[@]}" --embd 32 --out d --resume half >/dev/null 2>err.txt
status=$?
[ "$status" -eq 2 ] || fail "--embd 32 --resume half: exit status $status, expected 2"
grep -q "^tinygpt: --resume: half/model.safetensors has n_embd \"48\", this run 32" err.txt ||
    fail "--embd 32 --resume half: $(cat err.txt)"
[ ! -e d ] || fail "--embd 32 --resume half left its output folder"
exit $((failures > 0))
