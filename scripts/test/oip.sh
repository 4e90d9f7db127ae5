#!/usr/bin/env bash
# The Open Inference Protocol through its reference client: tritonclient[http] (pinned in
# tools/requirements-oip.txt, in a venv under the cache, made once) against the real release
# server on a free loopback port with the model store, driving all four tasks
# (scripts/test/oip_tritonclient.py). `make test-oip`; part of `make test`.
# Needs the release binary and the store (`make fetch`). Env: CANDLELIT_BIN, CANDLELIT_MODEL_DIR.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/paths.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/paths.sh"
VENV="$CACHE/py-oip"
MODELS="selfie,nanodet,efficientnet-lite0,smollm2"

say() { printf '\033[1m[oip]\033[0m %s\n' "$*"; }

# The venv, made once per requirements file. Wheels only: nothing compiles, so the install is
# the same on every machine.
"$ROOT/scripts/lib/pyenv.sh" tools/requirements-oip.txt py-oip --only-binary=:all:

[[ -x "$BIN" ]] || { echo "no server binary at $BIN; run make server" >&2; exit 1; }

PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
LOG="$(mktemp -t candlelit-oip.XXXXXX.log)"
say "starting $BIN on 127.0.0.1:$PORT ($MODELS)"
"$BIN" serve --host 127.0.0.1 --port "$PORT" --model-dir "$MODEL_DIR" --models "$MODELS" \
  --site-root "$CACHE/target/site" >"$LOG" 2>&1 &
SERVER=$!
stop() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
}
trap stop EXIT

# Ready once every model has loaded and warmed up; give up after two minutes.
for _ in $(seq 240); do
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "the server exited:" >&2; cat "$LOG" >&2; exit 1
  fi
  code="$("$VENV/bin/python" -c '
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError:
    print(0)' "http://127.0.0.1:$PORT/readyz")"
  [[ "$code" == 200 ]] && break
  sleep 0.5
done
if [[ "$code" != 200 ]]; then
  echo "the server was not ready in 120 s:" >&2; tail -20 "$LOG" >&2; exit 1
fi

"$VENV/bin/python" "$ROOT/scripts/test/oip_tritonclient.py" --url "127.0.0.1:$PORT" \
  --samples "$MODEL_DIR/samples" --labels "$ROOT/models/labels/imagenet-1k.txt"
