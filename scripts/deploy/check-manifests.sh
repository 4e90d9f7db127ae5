#!/usr/bin/env bash
# `make check-deploy`: renders every kustomization under deploy/ (the base and each overlay)
# with kubectl's kustomize, then
#   - checks that every CANDLELIT_* / HOST / PORT variable the manifests set is one the binary
#     reads (`candlelit serve --help` / `models fetch --help` list each flag's env twin), so a
#     renamed flag cannot leave a manifest silently setting nothing, and that the KServe
#     predictor runs exactly the base Deployment's pod spec;
#   - runs checkov on the rendered manifests (framework kubernetes) and on the Dockerfile and
#     deploy/fetch.Dockerfile (framework dockerfile) and fails on any failed check. Skipped checks are named, with
#     their reasons, in the manifests (`checkov.io/skip*` annotations, with a comment) and,
#     for the Dockerfile, in deploy/checkov-dockerfile.yaml (its build is another file's
#     business; the skips sit beside their reasons there).
# Usage: scripts/deploy/check-manifests.sh [path/to/candlelit]   (default: the release build)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${CANDLELIT_CACHE:-$HOME/.cache/candlelit}"
BIN="${1:-${CARGO_TARGET_DIR:-$CACHE/target}/release/candlelit}"
VENV="$CACHE/py-checkov"

say() { printf '\033[1m[check-deploy]\033[0m %s\n' "$*"; }

# `labels`, components and replacements need kustomize v5 (Debian's kubernetes-client 1.20
# carries kustomize v2, which cannot render them).
if ! kubectl version --client 2>/dev/null | grep -q '^Kustomize Version: v5'; then
  echo "check-deploy: needs kubectl with kustomize v5 (kubectl version --client)" >&2
  exit 1
fi
[[ -x "$BIN" ]] || { echo "check-deploy: no $BIN (cargo build --release -p server)" >&2; exit 1; }
"$ROOT/scripts/deploy/pyenv-checkov.sh"

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
cd "$ROOT"
for dir in deploy/base deploy/overlays/*/; do
  dir="${dir%/}"
  name="$(echo "${dir#deploy/}" | tr / -)"
  kubectl kustomize "$dir" > "$OUT/$name.yaml"
  say "rendered $dir: $(grep -c '^kind:' "$OUT/$name.yaml") resources ($(grep '^kind:' "$OUT/$name.yaml" | cut -d' ' -f2 | sort | paste -sd, -))"
done

"$BIN" serve --help > "$OUT/help.txt"
"$BIN" models fetch --help >> "$OUT/help.txt"
"$VENV/bin/python" "$ROOT/scripts/deploy/manifests.py" env "$OUT/help.txt" "$OUT"/*.yaml
"$VENV/bin/python" "$ROOT/scripts/deploy/manifests.py" same-pod "$OUT/base.yaml" "$OUT/overlays-kserve.yaml"
# checkov does not know KServe's InferenceService: check the pod each predictor becomes.
for f in "$OUT"/*.yaml; do
  if grep -q '^kind: InferenceService' "$f"; then
    "$VENV/bin/python" "$ROOT/scripts/deploy/manifests.py" kserve-pods "$f" "${f%.yaml}-predictor-pods.yaml"
  fi
done

# --skip-download: nothing from the vendor's platform (no network here, and none needed for
# the built-in checks).
CHECKOV=("$VENV/bin/checkov" --quiet --compact --skip-download)
say "checkov: rendered manifests"
"${CHECKOV[@]}" --framework kubernetes --directory "$OUT"
say "checkov: Dockerfile, deploy/fetch.Dockerfile (skips and reasons: deploy/checkov-dockerfile.yaml)"
"${CHECKOV[@]}" --framework dockerfile --config-file deploy/checkov-dockerfile.yaml \
  --file Dockerfile --file deploy/fetch.Dockerfile
say "manifests and Dockerfile pass"
