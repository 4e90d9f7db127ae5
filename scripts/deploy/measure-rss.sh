#!/usr/bin/env bash
# The memory figures behind deploy/base's requests and limits: starts the release server on the
# store's models, waits for /readyz, reads VmHWM / VmRSS from /proc, then sends ROUNDS requests
# to each task's routes (JSON and image answers; the summary streamed and not) and reads them
# again. Not a test: a measurement, printed as a table.
# Usage: scripts/deploy/measure-rss.sh [ROUNDS]   (CANDLELIT_MODEL_DIR, LEPTOS_SITE_ROOT, PORT)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/paths.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/paths.sh"
PORT="${PORT:-3190}"
ROUNDS="${1:-5}"
URL="http://127.0.0.1:$PORT"
SAMPLES="$MODEL_DIR/samples"

mem() { awk -v what="$1" '$1 == what":" { printf "%.0f", $2 / 1024 }' "/proc/$PID/status"; }

START=$(date +%s.%N)
(exec "$BIN" serve --model-dir "$MODEL_DIR" --port "$PORT" --log-format json >/tmp/measure-rss.log 2>&1) &
PID=$!
trap 'kill "$PID" 2>/dev/null || true' EXIT
until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" == 200 ]]; do
  kill -0 "$PID" || { cat /tmp/measure-rss.log; exit 1; }
  sleep 0.2
done
READY=$(date +%s.%N)
HWM_READY=$(mem VmHWM); RSS_READY=$(mem VmRSS)
TEXT='{"text":"The city council voted on Tuesday to expand the bus network, adding six routes and extending evening service on four others. The plan, funded by a regional transport grant, is expected to take effect next spring after a public consultation.","max_tokens":48}'
post() { # route, then curl arguments; fails on anything but 200
  local route="$1" code; shift
  code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$URL$route")
  [[ "$code" == 200 ]] || { echo "$route: HTTP $code" >&2; exit 1; }
}
for ((i = 0; i < ROUNDS; i++)); do
  for img in person dog; do
    f="$SAMPLES/$img.jpg"
    post /api/v1/segment/selfie -F "file=@$f"
    post "/api/v1/segment/meet?output=overlay" -F "file=@$f"
    post "/segment?output=overlay" -F "file=@$f"
    post /api/v1/detect/nanodet -F "file=@$f"
    post /api/v1/detect/centernet -F "file=@$f"
    post /predict -F "file=@$f"
    post /api/v1/classify/efficientnet-lite0 -F "file=@$f"
  done
  post /api/v1/summarize/smollm2 -H 'content-type: application/json' -d "$TEXT"
  post /api/v1/summarize/smollm2 -H 'content-type: application/json' -d "${TEXT%\}},\"stream\":true}"
done
printf '| when | VmHWM (peak RSS) | VmRSS |\n|---|---|---|\n'
printf '| /readyz 200 (%.1f s after start) | %s MiB | %s MiB |\n' "$(echo "$READY - $START" | bc)" "$HWM_READY" "$RSS_READY"
printf '| after %s rounds of 16 requests | %s MiB | %s MiB |\n' "$ROUNDS" "$(mem VmHWM)" "$(mem VmRSS)"
curl -s "$URL/readyz" | head -c 400; echo
