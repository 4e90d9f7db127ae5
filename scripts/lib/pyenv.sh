#!/usr/bin/env bash
# The one way this project makes a Python venv: idempotent, keyed on the requirements file.
# Usage: scripts/lib/pyenv.sh REQUIREMENTS VENV_NAME [pip install args...]
#   REQUIREMENTS  a file under the repo (e.g. tools/requirements-oip.txt); its `# imports: a b`
#                 line names the modules to import as a smoke test once installed.
#   VENV_NAME     the venv's folder under $CANDLELIT_CACHE (default ~/.cache/candlelit).
#   pip args      extra `pip install` arguments (e.g. --only-binary=:all:).
# When complete it writes the requirements' hash into $VENV/.ready; a second run with the same
# requirements installs nothing, and callers may check .ready themselves. When the venv has torch
# it also checks that a convolution runs on this CPU (PyPI's torch is the CUDA build).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${CANDLELIT_CACHE:-$HOME/.cache/candlelit}"
REQ="$ROOT/$1"
VENV="$CACHE/$2"
shift 2
PY="${PYTHON:-python3}"

say() { printf '\033[1m[pyenv]\033[0m %s\n' "$*"; }

SUM="$(sha256sum "$REQ" | cut -c1-16)"
if [[ -x "$VENV/bin/python" && "$(cat "$VENV/.ready" 2>/dev/null || true)" == "$SUM" ]]; then
  exit 0
fi

rm -f "$VENV/.ready"
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating venv $VENV"
  "$PY" -m venv "$VENV"
fi
say "installing $REQ into $VENV (one time)"
"$VENV/bin/pip" install --disable-pip-version-check --no-input -q "$@" -r "$REQ"
IMPORTS="$(sed -n 's/^# imports: //p' "$REQ")"
"$VENV/bin/python" - "$IMPORTS" <<'PY'
import importlib, sys
names = sys.argv[1].split()
for name in names:
    importlib.import_module(name)
import importlib.util
if importlib.util.find_spec("torch"):
    import torch
    x = torch.ones(1, 3, 8, 8)
    assert torch.nn.functional.conv2d(x, torch.ones(2, 3, 3, 3)).sum().item() == 2 * 36 * 27
    print("torch", torch.__version__, "runs on the CPU")
print("imports ok:", " ".join(names) or "(none named)")
PY
echo "$SUM" > "$VENV/.ready"
say "venv ready: $VENV ($(du -sh "$VENV" | cut -f1))"
