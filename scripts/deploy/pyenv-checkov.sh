#!/usr/bin/env bash
# Creates (idempotently) the venv with checkov for scripts/deploy/check-manifests.sh:
# ~/.cache/candlelit/py-checkov (or $CANDLELIT_CACHE/py-checkov), from
# tools/requirements-checkov.txt. When complete it writes the requirements' hash into
# $VENV/.ready; a second run with the same requirements installs nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${CANDLELIT_CACHE:-$HOME/.cache/candlelit}"
REQ="$ROOT/tools/requirements-checkov.txt"
VENV="$CACHE/py-checkov"
PY="${PYTHON:-python3}"

say() { printf '\033[1m[checkov]\033[0m %s\n' "$*"; }

SUM="$(sha256sum "$REQ" | cut -c1-16)"
if [[ -x "$VENV/bin/checkov" && "$(cat "$VENV/.ready" 2>/dev/null || true)" == "$SUM" ]]; then
  exit 0
fi
rm -f "$VENV/.ready"
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating venv $VENV"
  "$PY" -m venv "$VENV"
fi
say "installing $REQ (one time)"
"$VENV/bin/pip" install --disable-pip-version-check --no-input -q -r "$REQ"
"$VENV/bin/checkov" --version
echo "$SUM" > "$VENV/.ready"
say "venv ready: $VENV ($(du -sh "$VENV" | cut -f1))"
