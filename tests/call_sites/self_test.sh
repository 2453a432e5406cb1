#!/usr/bin/env bash
# tests/call_sites/self_test.sh CHECK FIXTURE_LIB FIXTURE_HEADER_DIR
#
# The call-site check must reject the fixture library (fixture/lib.c): exit
# 1, name each function that breaks the rule, and name no function that
# keeps it.
set -uo pipefail
check=$1 lib=$2 headers=$3

out=$("$check" "$lib" "$headers" 2>&1)
rc=$?
echo "$out"
fail=0
if [ "$rc" -ne 1 ]; then
    echo "self-test: the check exited $rc on the fixture (expected 1)"
    fail=1
fi
for want in \
    "ag_calls_macro_ calls ag_set_call_site" \
    "ag_no_macro_ can report an error but no public header has #define ag_no_macro(" \
    "ag_unwrapped can report an error but has no call-site macro" \
    "6 public functions can report; 3 problem(s)"; do
    if ! grep -qF -- "$want" <<<"$out"; then
        echo "self-test: missing from the check's output: $want"
        fail=1
    fi
done
for fine in ag_add_ ag_through_helper_ ag_through_pointer_ ag_quiet; do
    if grep -q -- "call-sites: $fine " <<<"$out"; then
        echo "self-test: the check complains about $fine, which keeps the rule"
        fail=1
    fi
done
exit "$fail"
