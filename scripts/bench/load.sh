#!/usr/bin/env bash
# Load benchmark (not a test): starts the release server on a loopback port with batching off
# and then on, drives one route at 1, 4, 16 and 64 concurrent clients for SECONDS each, and
# prints one table (throughput, p50/p99, statuses, server peak RSS).
# Usage: scripts/bench/load.sh [route] [seconds]   (make bench-load)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/paths.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/paths.sh"
# Unlike paths.sh, the target defaults to the checkout's own target/ (`make bench-load` passes
# CARGO_TARGET_DIR, the cache's).
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
ROUTE="${1:-/api/v1/segment/selfie}"
SECONDS_EACH="${2:-10}"
PORT="${LOAD_PORT:-3917}"
IMAGE="$MODEL_DIR/samples/person.jpg"
# The server from the same target as the load example (CANDLELIT_BIN is not read).
BIN="$TARGET/release/candlelit"
LOAD="$TARGET/release/examples/load"
MODEL="${ROUTE##*/}"

run() { # label, max_batch, batch_wait_ms
  CANDLELIT_MAX_BATCH="$2" CANDLELIT_BATCH_WAIT_MS="$3" CANDLELIT_MODELS="$MODEL" \
    CANDLELIT_QUEUE=16 CANDLELIT_WORKERS=1 RUST_LOG=warn \
    "$BIN" serve --host 127.0.0.1 --port "$PORT" --model-dir "$MODEL_DIR" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  "$LOAD" --url "http://127.0.0.1:$PORT$ROUTE" --image "$IMAGE" --seconds "$SECONDS_EACH" \
    --pid "$pid" --label "$1" | { if [[ "$1" == "batch off" ]]; then cat; else tail -n +3; fi; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
echo "route $ROUTE, $SECONDS_EACH s per level, $(nproc) cores, $(date -u +%F)"
run "batch off" 1 0
run "batch 4, wait 2 ms" 4 2
