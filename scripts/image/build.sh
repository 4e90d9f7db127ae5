#!/usr/bin/env bash
# `make image`: builds the Dockerfile as written with Debian's buildah (no Docker daemon), twice:
#   candlelit:latest      FETCH_MODELS=1, the registry models' weights and the samples baked in
#   candlelit:no-weights  FETCH_MODELS=0, an empty store to mount one on
# then prints their sizes. No container registry is reachable here, so the base images are made
# from Debian's packages first when absent (scripts/image/bootstrap-bases.sh) and passed as
# BUILDER_IMAGE / RUNTIME_IMAGE; stock Docker elsewhere uses the Dockerfile's defaults.
#
# The build stage's /cache is the host's ~/.cache/candlelit (bind mount): the pinned tools, the
# model archives and a separate cargo target dir (image-target) carry over, so a rebuild after a
# small change takes minutes, not the ~25 of a first build on 2 cores.
#
# Env: IMAGE_TARGET_CPU (x86-64-v3), IMAGE_NAME (candlelit), IMAGE_VARIANTS ("1 0": FETCH_MODELS
# values to build), BUILDER_IMAGE / RUNTIME_IMAGE (local bases, made when absent).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/paths.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/paths.sh"
NAME="${IMAGE_NAME:-candlelit}"
TARGET_CPU="${IMAGE_TARGET_CPU:-x86-64-v3}"
VARIANTS="${IMAGE_VARIANTS:-1 0}"
BUILDER_IMAGE="${BUILDER_IMAGE:-localhost/candlelit-base/rust:1.95-trixie}"
RUNTIME_IMAGE="${RUNTIME_IMAGE:-localhost/candlelit-base/cc-debian13:trixie}"
# What the seeds' image weighed (README), the figure to beat.
SEED_MB=1200

say() { printf '\033[1m[image]\033[0m %s\n' "$*"; }

need=()
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
if ((${#need[@]})); then
  say "installing ${need[*]} (Debian)"
  SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

"$ROOT/scripts/image/bootstrap-bases.sh" "$BUILDER_IMAGE" "$RUNTIME_IMAGE"

mkdir -p "$CACHE"
cd "$ROOT"
declare -A secs
for fetch in $VARIANTS; do
  tag="$NAME:latest"; [[ "$fetch" == 0 ]] && tag="$NAME:no-weights"
  say "buildah bud -> $tag (FETCH_MODELS=$fetch, TARGET_CPU=$TARGET_CPU)"
  t0=$(date +%s)
  # chroot isolation: this sandbox has no user namespaces for the default OCI runtime.
  # --layers: the apt step and an unchanged context are reused from the last build.
  buildah bud --isolation chroot --network host --layers --pull=never \
    -v "$CACHE:/cache" \
    --build-arg BUILDER_IMAGE="$BUILDER_IMAGE" --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" \
    --build-arg TARGET_CPU="$TARGET_CPU" --build-arg FETCH_MODELS="$fetch" \
    -f Dockerfile -t "$tag" .
  secs[$tag]=$(( $(date +%s) - t0 ))
done

# Uncompressed size in MB (10^6 bytes), from `buildah images` ("123.4 MB", decimal units).
size_mb() {
  buildah images --json "$1" | python3 -c '
import json, sys
n, unit = json.load(sys.stdin)[0]["size"].split()
print(round(float(n) * {"B": 1e-6, "kB": 1e-3, "MB": 1, "GB": 1e3}[unit], 1))'
}
printf '\n| image | weights | size (MB) | vs the seed'"'"'s %s MB | build time (s) |\n|---|---|---|---|---|\n' "$SEED_MB"
for fetch in $VARIANTS; do
  tag="$NAME:latest"; w="baked (registry models + samples)"
  [[ "$fetch" == 0 ]] && { tag="$NAME:no-weights"; w="none (mount a store)"; }
  mb=$(size_mb "$tag")
  printf '| %s | %s | %s | %sx smaller | %s |\n' "$tag" "$w" "$mb" \
    "$(python3 -c "print(round($SEED_MB/$mb,1))")" "${secs[$tag]}"
done
printf '| %s (runtime base) | - | %s | | |\n' "$RUNTIME_IMAGE" "$(size_mb "$RUNTIME_IMAGE")"
