#!/usr/bin/env bash
# Installs the pinned build/test tools into the cache (never into the repo), idempotently:
# a second run installs nothing. Usage: scripts/setup-tools.sh [--browser]
#   - the wasm32 target for rustc
#   - wasm-bindgen-cli, the exact version of the wasm-bindgen crate in Cargo.lock
#   - cargo-deny (pinned below) for the licence/ban/source check in `make lint`
#   - npm tools from tools/package-lock.json: binaryen (wasm-opt), sass, playwright-core, TF.js
#   - with --browser: Debian's chromium for the end-to-end test
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${CANDLELIT_CACHE:-$HOME/.cache/candlelit}"
TOOLS="$CACHE/tools"
NPM_DIR="$CACHE/npm"
mkdir -p "$TOOLS" "$NPM_DIR"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

WBG_VERSION="$(grep -A1 '^name = "wasm-bindgen"$' "$ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p' | head -1)"
WBG_VERSION="${WBG_VERSION:-0.2.130}"
if [[ "$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null || true)" != "wasm-bindgen $WBG_VERSION" ]]; then
  say "installing wasm-bindgen-cli $WBG_VERSION (one time, several minutes)"
  # Not --locked: the CLI's own lock pins a yanked webpki-roots (see ../shared/notes/toolchain.md).
  cargo install wasm-bindgen-cli --version "$WBG_VERSION" --root "$TOOLS"
fi

# cargo-deny for `make lint` (licences, bans, sources; deny.toml). --locked: its own lock builds.
DENY_VERSION="0.20.2"
if [[ "$("$TOOLS/bin/cargo-deny" --version 2>/dev/null || true)" != "cargo-deny $DENY_VERSION" ]]; then
  say "installing cargo-deny $DENY_VERSION (one time, several minutes)"
  cargo install --locked cargo-deny --version "$DENY_VERSION" --root "$TOOLS"
fi

# Contents only: the sum must not depend on where the clone is (sha256sum prints paths).
LOCK_SUM="$(cat "$ROOT/tools/package-lock.json" "$ROOT/tools/package.json" | sha256sum | cut -c1-16)"
if [[ "$(cat "$NPM_DIR/.installed" 2>/dev/null || true)" != "$LOCK_SUM" ]]; then
  say "installing npm tools into $NPM_DIR"
  cp "$ROOT/tools/package.json" "$ROOT/tools/package-lock.json" "$NPM_DIR/"
  (cd "$NPM_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$LOCK_SUM" > "$NPM_DIR/.installed"
fi

if [[ "${1:-}" == "--browser" ]] && ! command -v chromium >/dev/null; then
  say "installing Debian's chromium for the browser test"
  SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
fi
say "tools ready"
