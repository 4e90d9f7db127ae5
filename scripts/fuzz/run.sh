#!/usr/bin/env bash
# API fuzzing (not a test: random, and minutes long): starts the release server on a loopback
# port and runs schemathesis (PyPI, in a venv under the cache) over every operation of the
# OpenAPI spec, requiring that nothing answers 500 and every error has the one error shape.
# Usage: scripts/fuzz/run.sh [max-examples]   (make fuzz)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/paths.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/paths.sh"
PORT="${FUZZ_PORT:-3931}"
VENV="$CACHE/py-fuzz"
"$ROOT/scripts/lib/pyenv.sh" tools/requirements-fuzz.txt py-fuzz
LEPTOS_SITE_ROOT="$TARGET/site" RUST_LOG=warn "$TARGET/release/candlelit" serve \
  --host 127.0.0.1 --port "$PORT" --model-dir "$MODEL_DIR" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$ROOT/scripts/fuzz" "$VENV/bin/schemathesis" run \
  "http://127.0.0.1:$PORT/api-docs/openapi.json" \
  --checks no_internal_error,one_error_shape,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${1:-25}" --workers 2 --request-timeout 60
# The server kept serving through all of it.
curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && echo "[fuzz] server still healthy"
