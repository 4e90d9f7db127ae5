#!/usr/bin/env bash
# Creates (idempotently) the Python venv for the reference runtimes used by parity tests and
# benchmarks: ~/.cache/candlelit/py (or $CANDLELIT_CACHE/py), from tools/requirements-golden.txt.
# When complete it writes the requirements' hash into $VENV/.ready; a second run with the same
# requirements installs nothing. Other scripts wait for / check $VENV/.ready.
# Usage: scripts/golden/pyenv.sh        then: ~/.cache/candlelit/py/bin/python scripts/golden/...
#        scripts/golden/pyenv.sh tools/requirements-twins.txt py-twins   (the twin builders' venv)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${CANDLELIT_CACHE:-$HOME/.cache/candlelit}"
REQ="$ROOT/${1:-tools/requirements-golden.txt}"
VENV="$CACHE/${2:-py}"
PY="${PYTHON:-python3}"

say() { printf '\033[1m[pyenv]\033[0m %s\n' "$*"; }

SUM="$(sha256sum "$REQ" | cut -c1-16)"
if [[ -x "$VENV/bin/python" && "$(cat "$VENV/.ready" 2>/dev/null || true)" == "$SUM" ]]; then
  say "venv ready: $VENV"
  exit 0
fi

rm -f "$VENV/.ready"
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating venv $VENV"
  "$PY" -m venv "$VENV"
fi
say "installing $REQ (torch pulls its nvidia-* wheels: a few GB, one time)"
"$VENV/bin/pip" install --disable-pip-version-check --no-input -q -r "$REQ"
# Smoke test: torch runs on the CPU (each requirements file names its own imports).
IMPORTS="$(sed -n 's/^# imports: //p' "$REQ")"
"$VENV/bin/python" - "$IMPORTS" <<'PY'
import importlib, sys
import torch
for name in sys.argv[1].split():
    importlib.import_module(name)
x = torch.ones(1, 3, 8, 8)
assert torch.nn.functional.conv2d(x, torch.ones(2, 3, 3, 3)).sum().item() == 2 * 36 * 27
print("torch", torch.__version__, "imports ok:", sys.argv[1])
PY
echo "$SUM" > "$VENV/.ready"
say "venv ready: $VENV ($(du -sh "$VENV" | cut -f1))"
