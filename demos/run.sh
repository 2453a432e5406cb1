#!/usr/bin/env bash
# Build ag (Release, preset "default") and run the main demo.
#
#   demos/run.sh [demo arguments...]
set -euo pipefail

# The demo this script runs: bin/<name>, built from demos/<name with - as _>.c.
MAIN_DEMO=tinygpt

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source-path=SCRIPTDIR/..
source tests/setup.sh
ag_ensure_packages

src="demos/${MAIN_DEMO//-/_}.c"
if [ ! -f "$src" ]; then
    echo "demos/run.sh: $src does not exist (MAIN_DEMO=$MAIN_DEMO)" >&2
    exit 1
fi

echo "== configure (preset default)"
cmake --preset default
echo "== build $MAIN_DEMO"
cmake --build --preset default --target "$MAIN_DEMO" --parallel 2
echo "== run build/bin/$MAIN_DEMO $*"
exec "build/bin/$MAIN_DEMO" "$@"
