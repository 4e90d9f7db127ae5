#!/usr/bin/env bash
# The Python venv for the reference runtimes used by parity tests and benchmarks:
# ~/.cache/candlelit/py (or $CANDLELIT_CACHE/py), from tools/requirements-golden.txt, made by
# scripts/lib/pyenv.sh (idempotent; a second run with the same requirements installs nothing).
# Usage: scripts/golden/pyenv.sh        then: ~/.cache/candlelit/py/bin/python scripts/golden/...
#        scripts/golden/pyenv.sh tools/requirements-twins.txt py-twins   (the twin builders' venv)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
exec "$ROOT/scripts/lib/pyenv.sh" "${1:-tools/requirements-golden.txt}" "${2:-py}"
