# shellcheck shell=bash
# Shared by replicas.sh and failover.sh (sourced): Debian's haproxy, its config for N replicas,
# and starting, watching and stopping the replicas. Replica i listens on BASE_PORT+i-1.
# shellcheck source-path=SCRIPTDIR source=../lib/paths.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/paths.sh"
# The replicas from the same target as failover.sh's load example (CANDLELIT_BIN is not read).
BIN="$TARGET/release/candlelit"
RUN_DIR="${RUN_DIR:-$CACHE/replicas}"
LB_PORT="${LB_PORT:-3000}"
BASE_PORT="${BASE_PORT:-3101}"
STATS_PORT="${STATS_PORT:-8404}"
# Longer than haproxy takes to mark a replica down (fall 2 at fastinter 250 ms after inter 1 s).
DRAIN_MS="${DRAIN_MS:-2000}"
export CANDLELIT_MODEL_DIR="$MODEL_DIR"
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-$TARGET/site}"
declare -A PIDS=()
HAPROXY_PID=""

say() { printf '\033[1m[replicas]\033[0m %s\n' "$*"; }
die() { say "error: $*" >&2; exit 1; }
port_of() { echo $((BASE_PORT + $1 - 1)); }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_haproxy() {
  command -v haproxy >/dev/null && return
  local sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  say "installing Debian's haproxy (one time)"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q --no-install-recommends haproxy >/dev/null ||
    { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q --no-install-recommends haproxy >/dev/null; }
  command -v haproxy >/dev/null || die "haproxy did not install"
}

# deploy/haproxy/haproxy.cfg with N server lines and the chosen ports, checked by haproxy -c.
render_config() { # N out
  awk -v n="$1" -v base="$BASE_PORT" -v lb="$LB_PORT" -v st="$STATS_PORT" '
    /# replicas: begin/ { print; for (i = 1; i <= n; i++) printf "    server r%d 127.0.0.1:%d\n", i, base + i - 1; skip = 1; next }
    /# replicas: end/ { skip = 0 }
    skip { next }
    /# LB_PORT$/ { sub(/:[0-9]+/, ":" lb) }
    /# STATS_PORT$/ { sub(/:[0-9]+/, ":" st) }
    { print }' "$ROOT/deploy/haproxy/haproxy.cfg" >"$2"
  haproxy -c -q -f "$2" || die "haproxy rejects $2"
}

# Each child gets its own session: a Ctrl-C on the terminal reaches only this script, which
# then drains the replicas before stopping haproxy.
start_replica() { # i
  local i="$1" port
  port="$(port_of "$i")"
  port_busy "$port" && die "port $port is in use (set BASE_PORT)"
  setsid "$BIN" serve --host 127.0.0.1 --port "$port" --drain-ms "$DRAIN_MS" >>"$RUN_DIR/r$i.log" 2>&1 &
  PIDS[$i]=$!
}

wait_ready() { # i timeout_s: until the replica's /readyz says 200
  local i="$1" until=$((SECONDS + $2))
  while ((SECONDS < until)); do
    curl -fs -o /dev/null "http://127.0.0.1:$(port_of "$i")/readyz" && return 0
    kill -0 "${PIDS[$i]}" 2>/dev/null || die "replica r$i exited; see $RUN_DIR/r$i.log"
    sleep 0.2
  done
  die "replica r$i not ready after $2 s; see $RUN_DIR/r$i.log"
}

start_haproxy() { # config
  port_busy "$LB_PORT" && die "port $LB_PORT is in use (set PORT)"
  setsid haproxy -db -f "$1" >>"$RUN_DIR/haproxy.log" 2>&1 &
  HAPROXY_PID=$!
}

# haproxy's view of replica r<i>: UP, DOWN, "UP 1/2" and so on (stats CSV, column 18).
lb_state() { # i
  curl -fs "http://127.0.0.1:$STATS_PORT/;csv" | awk -F, -v s="r$1" '$1 == "replicas" && $2 == s { print $18 }'
}

wait_lb_state() { # i state timeout_s
  local until=$((SECONDS + $3))
  while ((SECONDS < until)); do
    [[ "$(lb_state "$1")" == "$2" ]] && return 0
    sleep 0.1
  done
  die "haproxy did not see r$1 $2 within $3 s (now: $(lb_state "$1"))"
}

# SIGTERM to every replica (each drains: /readyz 503, then in-flight requests finish), then
# haproxy.
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n "$HAPROXY_PID" ]]; then
    kill -TERM "$HAPROXY_PID" 2>/dev/null || true
    wait "$HAPROXY_PID" 2>/dev/null || true
  fi
}
