#!/usr/bin/env bash
# run_twin.sh SCRIPT.py [ARG...] — runs a PyTorch twin of docs/examples.md
# with a python3 that imports torch (/usr/bin/python3 first, then python3 on
# PATH); exits 77 (CTest: skipped) when there is none, else with the script's
# status.
set -u
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c "import torch" 2>/dev/null; then
        exec "$p" "$@"
    fi
done
echo "skipped: no python3 with torch (Debian: python3-torch)"
exit 77
