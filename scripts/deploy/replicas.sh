#!/usr/bin/env bash
# N candlelit replicas on loopback (127.0.0.1:BASE_PORT..) behind Debian's haproxy on LB_PORT
# (installed here when missing), in the foreground: Ctrl-C drains every replica and stops
# haproxy. Usage: scripts/deploy/replicas.sh [N]   (make replicas N=3 PORT=3000)
# Env: LB_PORT (3000), BASE_PORT (3101), STATS_PORT (8404), DRAIN_MS (2000), CANDLELIT_MODELS
# (default: every model in the store) and the server's other CANDLELIT_* settings.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
N="${1:-3}"
[[ "$N" =~ ^[1-9][0-9]?$ ]] || die "N must be 1-99, not '$N'"
[[ -x "$BIN" ]] || die "no server binary at $BIN (make server)"
ensure_haproxy
mkdir -p "$RUN_DIR"
rm -f "$RUN_DIR"/*.log
render_config "$N" "$RUN_DIR/haproxy.cfg"

trap stop_all EXIT
trap 'say "stopping: draining the replicas"; exit 0' INT TERM
for i in $(seq 1 "$N"); do start_replica "$i"; done
for i in $(seq 1 "$N"); do wait_ready "$i" 300; done
start_haproxy "$RUN_DIR/haproxy.cfg"
for i in $(seq 1 "$N"); do wait_lb_state "$i" UP 10; done
say "$N replicas ($(port_of 1)-$(port_of "$N")) behind http://127.0.0.1:$LB_PORT"
say "haproxy stats: http://127.0.0.1:$STATS_PORT/   logs: $RUN_DIR/   Ctrl-C stops"
# Runs until haproxy exits or a signal arrives (the trap then drains and stops everything).
wait "$HAPROXY_PID"
