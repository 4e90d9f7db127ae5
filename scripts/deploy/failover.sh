#!/usr/bin/env bash
# Failover test (not in `make test`: about a minute; `make replicas-test`): 3 replicas behind
# haproxy, LOAD_SECONDS of real image posts through the balancer (the repo's load generator:
# classification on /predict/image_classes and segmentation on /segment), one replica killed
# with SIGKILL mid-load and restarted, another sent SIGTERM (drain) and restarted. Prints what
# the clients got and what haproxy logged, and fails unless every request was answered by a
# replica with 200, 429 or 503 (the last two being the servers' own overload answers).
set -euo pipefail
# Own ports, so a `make run` or `make replicas` on the defaults is left alone.
LB_PORT="${FAILOVER_PORT:-3190}" BASE_PORT="${FAILOVER_BASE_PORT:-3191}"
STATS_PORT="${FAILOVER_STATS_PORT:-8494}" RUN_DIR="${FAILOVER_DIR:-${CANDLELIT_CACHE:-$HOME/.cache/candlelit}/failover}"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
N=3
LOAD="$TARGET/release/examples/load"
SECS="${LOAD_SECONDS:-30}"
IMAGE="${FAILOVER_IMAGE:-$CANDLELIT_MODEL_DIR/samples/person.jpg}"
# The two routes' default models only: restarts take seconds, not the summarizer's load time.
export CANDLELIT_MODELS="${CANDLELIT_MODELS:-efficientnet-lite0,selfie}"
for f in "$BIN" "$LOAD" "$IMAGE"; do [[ -e "$f" ]] || die "missing $f (make replicas-test builds it)"; done
((SECS >= 20)) || die "LOAD_SECONDS must be at least 20 (the events need the time)"
ensure_haproxy
mkdir -p "$RUN_DIR"
rm -f "$RUN_DIR"/*.log "$RUN_DIR"/*.txt
render_config "$N" "$RUN_DIR/haproxy.cfg"
L1="" L2=""
trap 'kill $L1 $L2 2>/dev/null || true; stop_all' EXIT

for i in 1 2 3; do start_replica "$i"; done
for i in 1 2 3; do wait_ready "$i" 300; done
start_haproxy "$RUN_DIR/haproxy.cfg"
for i in 1 2 3; do wait_lb_state "$i" UP 10; done
say "3 replicas up behind 127.0.0.1:$LB_PORT; $SECS s of load"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
T0=$(now_ms)
echo "$T0" >"$RUN_DIR/t0_ms" # lets failover_report.py be run again on this folder
event() { # name replica text: one line of events.txt, seconds since the load started
  local ms=$(($(now_ms) - T0))
  printf '%6d.%02d s  %-5s %-3s %s\n' $((ms / 1000)) $((ms % 1000 / 10)) "$1" "$2" "${*:3}" | tee -a "$RUN_DIR/events.txt"
}
at() { # seconds since the load started
  local left=$(($1 * 1000 - ($(now_ms) - T0)))
  ((left <= 0)) || sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
}
load() { # route clients out
  "$LOAD" --url "http://127.0.0.1:$LB_PORT$1" --image "$IMAGE" --seconds "$SECS" \
    --clients "$2" --label "$1" >"$RUN_DIR/$3" 2>&1
}
load /predict/image_classes 4 load-classify.txt &
L1=$!
load /segment 2 load-segment.txt &
L2=$!

# SIGKILL: requests in flight on r2 are cut; haproxy replays them elsewhere, and sends no
# new ones there once its checks fail.
at $((SECS / 5))
event kill r2 "SIGKILL (pid ${PIDS[2]})"
kill -KILL "${PIDS[2]}"
wait "${PIDS[2]}" 2>/dev/null || true
wait_lb_state 2 DOWN 10
event down r2 "haproxy marks it DOWN"
at $((SECS / 5 + 4))
start_replica 2
event start r2 "restarted (pid ${PIDS[2]})"
wait_lb_state 2 UP 120
event up r2 "haproxy marks it UP (loaded, warmed up, 2 checks passed)"

# SIGTERM: r3 says 503 on /readyz, keeps serving for DRAIN_MS, then closes its listener and
# finishes what it has.
at $((SECS / 2))
event term r3 "SIGTERM (pid ${PIDS[3]}): draining"
kill -TERM "${PIDS[3]}"
wait_lb_state 3 DOWN 10
event down r3 "haproxy marks it DOWN"
rc=0
wait "${PIDS[3]}" || rc=$?
event exit r3 "exited with status $rc"
((rc == 0)) || die "r3 did not stop cleanly on SIGTERM (status $rc)"
start_replica 3
event start r3 "restarted (pid ${PIDS[3]})"
wait_lb_state 3 UP 120
event up r3 "haproxy marks it UP"

wait "$L1" || die "the classification load failed: $(cat "$RUN_DIR/load-classify.txt")"
wait "$L2" || die "the segmentation load failed: $(cat "$RUN_DIR/load-segment.txt")"
L1="" L2=""
event "done" - "load finished"
sleep 0.5 # haproxy writes a request's log line once it is answered
python3 "$(dirname "$0")/failover_report.py" "$RUN_DIR" "$T0" "$SECS"
