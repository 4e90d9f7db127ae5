#!/usr/bin/env bash
# The venv with checkov for scripts/deploy/check-manifests.sh: ~/.cache/candlelit/py-checkov
# (or $CANDLELIT_CACHE/py-checkov), from tools/requirements-checkov.txt, made by
# scripts/lib/pyenv.sh (idempotent; a second run with the same requirements installs nothing).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
"$ROOT/scripts/lib/pyenv.sh" tools/requirements-checkov.txt py-checkov
