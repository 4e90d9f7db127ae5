# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# The paths the scripts share. Sourced, not run:
#   source "$(dirname "${BASH_SOURCE[0]}")/../lib/paths.sh"
#   ROOT       the repository (found from this file's place, scripts/lib/../..)
#   CACHE      $CANDLELIT_CACHE, else ~/.cache/candlelit (tools, venvs, the cargo target)
#   TARGET     $CARGO_TARGET_DIR, else $CACHE/target (what the Makefile exports)
#   BIN        $CANDLELIT_BIN, else the release server in $TARGET
#   MODEL_DIR  $CANDLELIT_MODEL_DIR, else $ROOT/model-store
# A script that wants another default says so after sourcing this, with its reason. The settings
# each script then reads (ports, names, its own env vars) are alike in shape only.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${CANDLELIT_CACHE:-$HOME/.cache/candlelit}"
TARGET="${CARGO_TARGET_DIR:-$CACHE/target}"
BIN="${CANDLELIT_BIN:-$TARGET/release/candlelit}"
MODEL_DIR="${CANDLELIT_MODEL_DIR:-$ROOT/model-store}"
