#!/usr/bin/env bash
# Build and test ag three times: the default (Release, -Werror) preset, the
# asan preset (Debug, AddressSanitizer + UBSan), and the tsan preset
# (ThreadSanitizer; it builds only test_threads, without OpenMP and BLAS,
# which also keeps that configuration compiling warning-free). All run even
# when one fails; the exit status is non-zero if any failed. The last line
# printed is a CTest summary line ("N% tests passed, M tests failed out of K").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source-path=SCRIPTDIR/..
source tests/setup.sh
ag_ensure_packages || exit 1

JOBS=2

# run_preset NAME BINARY_DIR: configure, build, test; CTest's output goes to
# BINARY_DIR/ctest.log as well.
run_preset() {
    local name=$1 dir=$2
    echo
    echo "=================================================================="
    echo "== $name: cmake --preset $name && cmake --build && ctest"
    echo "=================================================================="
    rm -f "$dir/ctest.log"
    if ! cmake --preset "$name"; then
        echo "== $name: configure FAILED"
        return 1
    fi
    if ! cmake --build --preset "$name" --parallel "$JOBS"; then
        echo "== $name: build FAILED"
        return 1
    fi
    if ! ctest --preset "$name" --parallel "$JOBS" 2>&1 | tee "$dir/ctest.log"; then
        echo "== $name: tests FAILED"
        return 1
    fi
    return 0
}

# The CTest summary line of a log, if any.
summary_of() {
    [ -f "$1" ] || return 0
    grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n 1 || true
}

status_default=0
status_asan=0
status_tsan=0
run_preset default build || status_default=$?
run_preset asan build-asan || status_asan=$?
run_preset tsan build-tsan || status_tsan=$?

summary_default=$(summary_of build/ctest.log)
summary_asan=$(summary_of build-asan/ctest.log)
summary_tsan=$(summary_of build-tsan/ctest.log)

describe() {  # status summary
    if [ "$1" -eq 0 ]; then
        echo "ok: $2"
    elif [ -n "$2" ]; then
        echo "FAILED: $2"
    else
        echo "FAILED before testing (configure or build)"
    fi
}
echo
echo "== recap"
echo "== default: $(describe "$status_default" "$summary_default")"
echo "== asan:    $(describe "$status_asan" "$summary_asan")"
echo "== tsan:    $(describe "$status_tsan" "$summary_tsan")"

# Last line: the failing run's summary if one failed, else ASan's.
if [ "$status_default" -ne 0 ]; then
    echo "${summary_default:-default: configure or build failed}"
elif [ "$status_asan" -ne 0 ]; then
    echo "${summary_asan:-asan: configure or build failed}"
elif [ "$status_tsan" -ne 0 ]; then
    echo "${summary_tsan:-tsan: configure or build failed}"
else
    echo "$summary_asan"
fi

[ "$status_default" -eq 0 ] && [ "$status_asan" -eq 0 ] && [ "$status_tsan" -eq 0 ]
