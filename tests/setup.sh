# shellcheck shell=bash
# Sourced by tests/run.sh and demos/run.sh: make sure the Debian packages the
# build, the tests and the demos need are installed.
#
#   source tests/setup.sh && ag_ensure_packages
#
# As root, missing packages are installed with apt-get; otherwise the missing
# ones and the command to install them are printed and it returns 1.

# Print the Debian packages that are missing, one per line.
ag_missing_packages() {
    command -v cmake >/dev/null 2>&1 || echo cmake
    command -v pkg-config >/dev/null 2>&1 || echo pkg-config
    { command -v cc && command -v make; } >/dev/null 2>&1 || echo build-essential
    # Check's check.pc has "Requires: libsubunit" (its -lsubunit is needed to
    # link), so pkg-config finds check only when libsubunit-dev is there too.
    if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists libsubunit; then
        echo libsubunit-dev
    fi
    if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists check; then
        echo check
    fi
    # libopenblas-dev brings cblas.h (include/<arch>/openblas-pthread/).
    dpkg-query -W -f='${Status}' libopenblas-dev 2>/dev/null | grep -q 'install ok installed' \
        || echo libopenblas-dev
    # libcjson-dev: the safetensors header parser (cjson/cJSON.h, libcjson).
    dpkg-query -W -f='${Status}' libcjson-dev 2>/dev/null | grep -q 'install ok installed' \
        || echo libcjson-dev
    # Open MPI for ag_dist (data-parallel training; without it, one process).
    dpkg-query -W -f='${Status}' libopenmpi-dev 2>/dev/null | grep -q 'install ok installed' \
        || echo libopenmpi-dev
    command -v mpiexec >/dev/null 2>&1 || echo openmpi-bin
    command -v gnuplot >/dev/null 2>&1 || echo gnuplot-nox
    [ -e /usr/share/dict/words ] || echo wamerican
}

ag_ensure_packages() {
    local missing
    missing=$(ag_missing_packages | tr '\n' ' ')
    missing=${missing% }
    if [ -z "$missing" ]; then
        return 0
    fi
    local cmd="apt-get install -y --no-install-recommends $missing"
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing packages: $missing" >&2
        echo "setup: install them with: sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive $cmd" >&2
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: missing packages: $missing (and no apt-get to install them)" >&2
        return 1
    fi
    echo "setup: installing $missing"
    apt-get update
    # shellcheck disable=SC2086 # word splitting of the package list is wanted
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
    missing=$(ag_missing_packages | tr '\n' ' ')
    missing=${missing% }
    if [ -n "$missing" ]; then
        echo "setup: still missing after apt-get: $missing" >&2
        return 1
    fi
}
