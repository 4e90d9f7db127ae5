#!/usr/bin/env bash
# `make image-test` (not in `make test`: it needs the images `make image` builds, and minutes).
# For each variant it starts the image's own ENTRYPOINT + CMD, as the image's USER, with
# `buildah run --isolation chroot` (`podman run` fails in this sandbox on setrlimit) on the host's
# network, on a loopback port, and checks:
#   - cold start: container start (buildah run) and process start (/proc start time) to the first
#     /readyz 200
#   - the server process runs as uid/gid 10001 (from /proc/<pid>/status), and its RSS
#   - one request per task: segment (person.jpg), detect (dog.jpg), classify (eagle.jpg),
#     summarize (a text), each answer checked against what the photo shows
#   - writes as that uid inside the same container: refused on /, /etc, /usr/local/bin, the
#     binary, /srv, /srv/site, the catalog; allowed in /tmp and (baked) the store; the mounted
#     store is read-only. The probe is a static busybox bind-mounted in for the check (the image
#     has no shell)
# Variants: baked (candlelit:latest) and mounted (candlelit:no-weights + the host's model store
# bound read-only at /srv/model-store). Then the hosted-deploy examples in deploy/hosted parse
# and agree with the image (port, health path, store path). Prints a table; exits 1 on a failure.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/paths.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/paths.sh"
NAME="${IMAGE_NAME:-candlelit}"
PORT0="${IMAGE_TEST_PORT:-3187}"
READY_TIMEOUT="${IMAGE_TEST_READY_TIMEOUT:-300}"
PY=/usr/bin/python3
WORK="$(mktemp -d)"
ROWS=()
WRITE_ROWS=()

say() { printf '\033[1m[image-test]\033[0m %s\n' "$*"; }
# Failures go to a file: checks also run inside $(...) subshells.
fail() { printf '\033[31mFAIL\033[0m %s\n' "$*" >&2; echo "$*" >> "$WORK/failures"; }

need=()
command -v buildah >/dev/null || need+=(buildah)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
$PY -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
if ((${#need[@]})); then
  say "installing ${need[*]} (Debian)"
  SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# busybox-static's binary is static, so it runs in an image with no shell or libc of its own.
BUSYBOX=/bin/busybox

CTR=""; SRV=""; BR=""
cleanup() {
  if [[ -n "$SRV" ]] && kill -0 "$SRV" 2>/dev/null; then kill -TERM "$SRV" 2>/dev/null || true; fi
  if [[ -n "$BR" ]]; then timeout 40 tail --pid="$BR" -f /dev/null 2>/dev/null || true; fi
  if [[ -n "$CTR" ]]; then buildah rm "$CTR" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# An image's OCI config field as JSON (buildah 1.28's --format has no json function).
img_cfg() { buildah inspect --type image "$1" | $PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["OCIv1"]["config"].get(sys.argv[1])))' "$2"; }

# Answers from the container, checked with a few lines of Python; prints "ok <detail>" or "bad <why>".
check_json() {  # check_json <kind> <file>
  $PY - "$1" "$2" <<'EOF'
import json, sys
kind, path = sys.argv[1], sys.argv[2]
try:
    d = json.load(open(path))
except Exception as e:
    print(f"bad not JSON: {open(path, 'rb').read()[:200]!r}"); sys.exit()
if kind == "segment":
    share = {c["label"]: c["share"] for c in d["classes"]}.get("person", 0)
    # person.jpg: one person, a few per cent of the frame (the e2e test's band, widened).
    print(("ok" if 0.02 < share < 0.5 else "bad") + f" person share {share:.3f}")
elif kind == "detect":
    dogs = [x["score"] for x in d["detections"] if x["label"] == "dog"]
    best = max(dogs, default=0)
    print(("ok" if best >= 0.3 else "bad") + f" dog {best:.2f}, {len(d['detections'])} boxes")
elif kind == "classify":
    top = d["top_k"][0]
    # The two raptors ImageNet has for this photo, as server/tests/api_vision.rs accepts.
    ok = top["label"] in ("kite", "bald eagle, American eagle, Haliaeetus leucocephalus")
    print(("ok" if ok else "bad") + f" top-1 '{top['label'].split(',')[0]}' {top['probability']:.2f}")
elif kind == "summarize":
    ok = d["tokens_generated"] > 0 and d["summary"].strip()
    print(("ok" if ok else "bad") + f" {d['tokens_generated']} tokens, {d['timings']['tokens_per_s']:.0f} tok/s")
EOF
}

# post <kind> <url> <curl args...>: one request; records "status detail (ms)".
post() {
  local kind="$1" url="$2"; shift 2
  local out="$WORK/$kind.json" code ms verdict
  read -r code ms < <(curl -s -o "$out" -w '%{http_code} %{time_total}\n' -m 120 "$@" "$url")
  ms=$($PY -c "print(round($ms*1000))")
  if [[ "$code" != 200 ]]; then
    fail "$kind: HTTP $code $(head -c 200 "$out")"; echo "$code"; return
  fi
  verdict="$(check_json "$kind" "$out")"
  [[ "$verdict" == ok* ]] || fail "$kind: ${verdict#bad }"
  echo "$code ${verdict#* } (${ms} ms)"
}

# probe <expect allow|deny> <path> <dir|file>: a write attempt as the image's user, in $CTR.
probe() {
  local expect="$1" path="$2" kind="$3" got cmd
  if [[ "$kind" == dir ]]; then cmd="touch '$path/.write-probe' && rm '$path/.write-probe'"
  else cmd=": >> '$path'"; fi  # opens for writing (append), changes nothing if allowed
  # The same mounts as the server's run (each `buildah run` sets up its own).
  if buildah run --isolation chroot --network host --user "$USER_SPEC" -v "$BUSYBOX:/busybox:ro" "${VOL[@]}" \
       "$CTR" -- /busybox sh -c "$cmd" >/dev/null 2>&1; then got=allow; else got=deny; fi
  [[ "$got" == "$expect" ]] || fail "write to $path: expected $expect, got $got"
  printf '%s=%s ' "$path" "$got"
}

run_variant() {  # run_variant <label> <image> <port> [host store to mount read-only]
  local label="$1" image="$2" port="$3" mount="${4:-}"
  if [[ -z "$(buildah images -q "$image" 2>/dev/null)" ]]; then
    fail "$image is not built (make image)"; ROWS+=("| $label | $image | not built | | | | | | |"); return
  fi
  say "$label: $image on 127.0.0.1:$port${mount:+ (store $mount read-only)}"
  local -a entry cmd
  VOL=()
  mapfile -t entry < <(img_cfg "$image" Entrypoint | $PY -c 'import json,sys; print(*(json.load(sys.stdin) or []), sep="\n")')
  mapfile -t cmd < <(img_cfg "$image" Cmd | $PY -c 'import json,sys; print(*(json.load(sys.stdin) or []), sep="\n")')
  USER_SPEC="$(img_cfg "$image" User | tr -d '"')"
  [[ "$USER_SPEC" == 10001:10001 ]] || fail "image USER is '$USER_SPEC', not 10001:10001"
  if [[ -n "$mount" ]]; then
    VOL=(-v "$mount:/srv/model-store:ro")
    # uid 10001 is neither owner nor group of a host store: every file must be world-readable.
    local hidden; hidden="$(find "$mount" \( -type f ! -perm -o=r \) -o \( -type d ! -perm -o=rx \) | head -3)"
    [[ -z "$hidden" ]] || fail "$label: uid 10001 cannot read $(echo $hidden) (chmod -R a+rX $mount)"
  fi
  if ss -ltnH "sport = :$port" | grep -q .; then
    fail "$label: port $port is already in use"; ROWS+=("| $label | $image | port busy | | | | | | |"); return
  fi
  CTR="$(buildah from --pull=never "$image")"
  # Loopback only, on a test port: the image's defaults are 0.0.0.0:3000.
  buildah config --env PORT="$port" --env HOST=127.0.0.1 "$CTR"
  local log="$WORK/$label.log" t0 t1 code=000 pid="" up tick start
  t0=$(date +%s.%N)
  buildah run --isolation chroot --network host --user "$USER_SPEC" "${VOL[@]}" "$CTR" -- \
    "${entry[@]}" "${cmd[@]}" >"$log" 2>&1 &
  BR=$!
  while :; do
    [[ -z "$pid" ]] && pid="$(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)"
    code=$(curl -s -o "$WORK/readyz" -m 2 -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
    [[ "$code" == 200 ]] && break
    # A model the store cannot give (unreadable, corrupt) never gets ready: stop waiting.
    if grep -q '"corrupt"' "$WORK/readyz" 2>/dev/null; then fail "$label: /readyz $(cat "$WORK/readyz")"; break; fi
    if ! kill -0 "$BR" 2>/dev/null; then fail "$label: exited before ready"; tail -20 "$log"; break; fi
    if (( $(date +%s) - ${t0%.*} > READY_TIMEOUT )); then fail "$label: not ready in ${READY_TIMEOUT}s"; tail -20 "$log"; break; fi
    sleep 0.05
  done
  t1=$(date +%s.%N); up=$(cut -d' ' -f1 /proc/uptime)
  SRV="$pid"
  if [[ "$code" != 200 ]]; then
    ROWS+=("| $label | $image | not ready | | | | | | |")
    [[ -n "$SRV" ]] && kill -TERM "$SRV" 2>/dev/null; timeout 40 tail --pid="$BR" -f /dev/null || true
    SRV=""; BR=""; buildah rm "$CTR" >/dev/null; CTR=""; return
  fi
  tick=$(getconf CLK_TCK); start=$(awk '{print $22}' "/proc/$pid/stat")
  local cold_ctr cold_proc uids gids exe rss_ready
  cold_ctr=$($PY -c "print(f'{$t1-$t0:.2f}')")
  cold_proc=$($PY -c "print(f'{$up-$start/$tick:.2f}')")
  uids=$(awk '/^Uid:/{print $2,$3,$4,$5}' "/proc/$pid/status"); gids=$(awk '/^Gid:/{print $2,$3,$4,$5}' "/proc/$pid/status")
  exe=$(readlink "/proc/$pid/exe")
  [[ "$uids" == "10001 10001 10001 10001" && "$gids" == "10001 10001 10001 10001" ]] || fail "$label: server uids '$uids' gids '$gids'"
  [[ "$exe" == */usr/local/bin/candlelit ]] || fail "$label: the port's process is $exe"
  rss_ready=$(awk '/^VmRSS:/{print int($2/1024)}' "/proc/$pid/status")

  for s in person dog eagle; do
    curl -sf -m 10 -o "$WORK/$s.jpg" "http://127.0.0.1:$port/samples/$s.jpg" || fail "$label: GET /samples/$s.jpg"
  done
  local seg det cls sum rss_after hwm
  seg=$(post segment "http://127.0.0.1:$port/api/v1/segment/selfie" -F "file=@$WORK/person.jpg")
  det=$(post detect "http://127.0.0.1:$port/api/v1/detect/nanodet" -F "file=@$WORK/dog.jpg")
  cls=$(post classify "http://127.0.0.1:$port/api/v1/classify/efficientnet-lite0?top_k=3" -F "file=@$WORK/eagle.jpg")
  sum=$(post summarize "http://127.0.0.1:$port/api/v1/summarize/smollm2" -H 'content-type: application/json' \
    -d '{"text":"The city council voted on Tuesday to expand the bike lane network by forty kilometres over the next three years. Supporters said the plan would cut traffic and improve safety, while some shop owners worried about losing parking in front of their stores. The first new lanes will open next spring.","max_tokens":48}')
  rss_after=$(awk '/^VmRSS:/{print int($2/1024)}' "/proc/$pid/status"); hwm=$(awk '/^VmHWM:/{print int($2/1024)}' "/proc/$pid/status")

  local writes store_expect=allow
  [[ -n "$mount" ]] && store_expect=deny
  writes=$(probe deny / dir; probe deny /etc dir; probe deny /usr/local/bin dir; probe deny /usr/local/bin/candlelit file
           probe deny /srv dir; probe deny /srv/site dir; probe deny /srv/catalog.toml file
           probe allow /tmp dir; probe "$store_expect" /srv/model-store dir)
  WRITE_ROWS+=("| $label | ${writes% } |")

  kill -TERM "$SRV"; timeout 40 tail --pid="$BR" -f /dev/null || fail "$label: no exit 40 s after SIGTERM"
  SRV=""; BR=""
  buildah rm "$CTR" >/dev/null; CTR=""
  ROWS+=("| $label | $image | $cold_ctr | $cold_proc | ${uids%% *}:${gids%% *} | $rss_ready / $rss_after (peak $hwm) | $seg | $det | $cls | $sum |")
}

run_variant baked "$NAME:latest" "$PORT0"
if [[ -d "$MODEL_DIR/smollm2" ]]; then
  run_variant mounted "$NAME:no-weights" "$((PORT0 + 1))" "$MODEL_DIR"
else
  say "no store at $MODEL_DIR: the mounted variant is skipped (make fetch)"
fi

# The hosted-deploy examples: they parse, and say what the image does.
say "deploy/hosted examples"
HOSTED=$($PY - "$ROOT" "$NAME:latest" <<'EOF'
import json, subprocess, sys, tomllib, yaml
root, image = sys.argv[1], sys.argv[2]
env = dict(e.split("=", 1) for e in json.loads(subprocess.run(
    ["buildah", "inspect", "--type", "image", image],
    capture_output=True, text=True, check=True).stdout)["OCIv1"]["config"]["Env"])
port, store = int(env["PORT"]), env["CANDLELIT_MODEL_DIR"]
out, bad = [], []
def expect(what, got, want):
    (out if got == want else bad).append(f"{what}={got!r}" + ("" if got == want else f" (want {want!r})"))
fly = tomllib.load(open(f"{root}/deploy/hosted/fly.toml", "rb"))
expect("fly internal_port", fly["http_service"]["internal_port"], port)
expect("fly check path", fly["http_service"]["checks"][0]["path"], "/readyz")
render = yaml.safe_load(open(f"{root}/deploy/hosted/render.yaml"))
svc = render["services"][0]
expect("render runtime", svc["runtime"], "docker")
expect("render healthCheckPath", svc["healthCheckPath"], "/readyz")
expect("render PORT", {e["key"]: e.get("value") for e in svc["envVars"]}.get("PORT"), str(port))
if "disk" in svc:
    expect("render disk", svc["disk"]["mountPath"], store)
text = open(f"{root}/deploy/hosted/huggingface/README.md").read()
meta = yaml.safe_load(text.split("---\n")[1])
expect("space sdk", meta["sdk"], "docker")
expect("space app_port", meta["app_port"], port)
print(("ok " if not bad else "bad ") + "; ".join(bad or out))
EOF
) || HOSTED="bad (could not check)"
[[ "$HOSTED" == ok* ]] || fail "hosted examples: ${HOSTED#bad }"

echo
echo "| variant | image | cold start: container (s) | cold start: process (s) | uid:gid | RSS MiB ready / after (peak) | segment | detect | classify | summarize |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "| variant | writes as uid 10001 |"
echo "|---|---|"
printf '%s\n' "${WRITE_ROWS[@]}"
echo
echo "hosted examples (deploy/hosted): ${HOSTED}"
if [[ -s "$WORK/failures" ]]; then echo "$(wc -l < "$WORK/failures") check(s) failed:"; cat "$WORK/failures"; exit 1; fi
echo "all image checks passed"
