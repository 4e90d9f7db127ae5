#!/usr/bin/env bash
# Makes the two base images the Dockerfile builds on, from Debian's packages, when no container
# registry is reachable (as on the build machines here). Elsewhere stock Docker pulls the
# Dockerfile's defaults (rust:1.95-trixie, gcr.io/distroless/cc-debian13) and this is not needed.
# Debian 13 (trixie), not 12: the pinned sass and chokidar need Node >= 20.19, which is trixie's
# nodejs (bookworm's is 18).
#
#   builder: `debootstrap --variant=minbase trixie` + the C toolchain the official rust image
#            has (build-essential, pkg-config, git, curl, ca-certificates) + this machine's own
#            rustup and Rust 1.95.0 toolchain (with its wasm32 target), laid out as in the
#            official image (RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo).
#   runtime: what distroless cc-debian13 holds that the binary needs (base-files, netbase,
#            tzdata, ca-certificates, libc6, libgcc-s1), the trixie .debs fetched with the
#            builder's apt-get and unpacked with dpkg-deb; no shell, no package manager. The
#            binary needs only libc, libm and libgcc_s (ldd).
#
# Usage: scripts/image/bootstrap-bases.sh [--force] <builder-tag> <runtime-tag>
# Idempotent: an image that already exists is left alone unless --force.
set -euo pipefail
FORCE=0
if [[ "${1:-}" == "--force" ]]; then FORCE=1; shift; fi
BUILDER_TAG="${1:?usage: bootstrap-bases.sh [--force] <builder-tag> <runtime-tag>}"
RUNTIME_TAG="${2:?usage: bootstrap-bases.sh [--force] <builder-tag> <runtime-tag>}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE="${DEBIAN_SUITE:-trixie}"
RUST_VERSION="${RUST_VERSION:-1.95.0}"
TRIPLE=x86_64-unknown-linux-gnu

say() { printf '\033[1m[bases]\033[0m %s\n' "$*"; }
have_image() { [[ -n "$(buildah images -q "$1" 2>/dev/null)" ]]; }

# A working container is removed on any exit, so a failed bootstrap leaves nothing half-made.
CTR=""
cleanup() { if [[ -n "$CTR" ]]; then buildah umount "$CTR" >/dev/null 2>&1 || true; buildah rm "$CTR" >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT

make_builder() {
  local sysroot rustup_bin
  sysroot="$(rustc "+$RUST_VERSION" --print sysroot 2>/dev/null || true)"
  if [[ -z "$sysroot" || ! -x "$sysroot/bin/cargo" ]]; then
    echo "Rust $RUST_VERSION is not installed here (rustup toolchain install $RUST_VERSION)" >&2; exit 1
  fi
  [[ "$(rustc "+$RUST_VERSION" --version)" == "rustc $RUST_VERSION "* ]] || {
    echo "toolchain '$RUST_VERSION' is $(rustc "+$RUST_VERSION" --version), not $RUST_VERSION" >&2; exit 1; }
  rustup_bin="$(command -v rustup)"
  say "builder: debootstrap $SUITE (minbase) from $MIRROR"
  CTR="$(buildah from scratch)"
  local mnt; mnt="$(buildah mount "$CTR")"
  debootstrap --variant=minbase \
    --include=ca-certificates,curl,git,build-essential,pkg-config,xz-utils,file \
    "$SUITE" "$mnt" "$MIRROR" >/tmp/candlelit-debootstrap.log 2>&1 \
    || { tail -20 /tmp/candlelit-debootstrap.log; exit 1; }
  rm -rf "$mnt"/var/cache/apt/archives/*.deb "$mnt"/var/lib/apt/lists/*
  say "builder: Rust $RUST_VERSION from $sysroot (docs left out)"
  local tc="$mnt/usr/local/rustup/toolchains/$RUST_VERSION-$TRIPLE"
  mkdir -p "$tc" "$mnt/usr/local/cargo/bin"
  tar -C "$sysroot" --exclude=./share/doc -cf - . | tar -C "$tc" -xf -
  printf 'version = "12"\ndefault_toolchain = "%s-%s"\nprofile = "minimal"\nauto_self_update = "disable"\n\n[overrides]\n' \
    "$RUST_VERSION" "$TRIPLE" > "$mnt/usr/local/rustup/settings.toml"
  install -m 0755 "$rustup_bin" "$mnt/usr/local/cargo/bin/rustup"
  # rustup's proxies, as `rustup-init` lays them out.
  for p in cargo rustc rustdoc rustfmt cargo-fmt cargo-clippy clippy-driver rust-gdb rust-lldb; do
    ln -sf rustup "$mnt/usr/local/cargo/bin/$p"
  done
  chmod -R a+rwX "$mnt/usr/local/rustup" "$mnt/usr/local/cargo"
  # Where this machine reaches the registries through a TLS-inspecting egress proxy, the host
  # trusts its CA (/usr/local/share/ca-certificates); the builder must too, or cargo and npm
  # fail with "self-signed certificate in certificate chain". Builder only: the runtime base
  # keeps Debian's own CA set.
  local extra_ca=0
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$mnt/usr/local/share/ca-certificates/"
    extra_ca=1
  fi
  buildah umount "$CTR" >/dev/null
  if [[ $extra_ca == 1 ]]; then
    buildah run --isolation chroot "$CTR" -- update-ca-certificates >/dev/null
    buildah config --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$CTR"
  fi
  buildah config \
    --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env RUST_VERSION="$RUST_VERSION" --cmd /bin/bash \
    --label org.opencontainers.image.description="Debian $SUITE minbase + build-essential + Rust $RUST_VERSION (local stand-in for rust:$RUST_VERSION-$SUITE)" \
    "$CTR"
  # Proof the toolchain runs inside: cargo, and the wasm target setup-tools.sh looks for.
  buildah run --isolation chroot "$CTR" -- cargo --version
  buildah run --isolation chroot "$CTR" -- rustup target list --installed
  buildah commit -q --rm "$CTR" "$BUILDER_TAG" >/dev/null; CTR=""
  say "builder: $BUILDER_TAG"
}

make_runtime() {
  local debs; debs="$(mktemp -d)"
  say "runtime: Debian $SUITE packages (distroless cc's set, fetched with the builder's apt-get)"
  # The builder has the suite's apt sources (the host's may be another release).
  local dl; dl="$(buildah from --pull=never "$BUILDER_TAG")"
  buildah run --isolation chroot --network host -v "$debs:/debs" "$dl" -- sh -c \
    'apt-get update -qq && cd /debs && apt-get -o APT::Sandbox::User=root download -q base-files netbase tzdata ca-certificates libc6 libgcc-s1' >/dev/null
  buildah rm "$dl" >/dev/null
  CTR="$(buildah from scratch)"
  local mnt; mnt="$(buildah mount "$CTR")"
  for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$mnt"; done
  rm -rf "$debs"
  # What ca-certificates' postinst (update-ca-certificates) would make: the one PEM bundle.
  mkdir -p "$mnt/etc/ssl/certs"
  find "$mnt/usr/share/ca-certificates/mozilla" -name '*.crt' | sort | xargs cat > "$mnt/etc/ssl/certs/ca-certificates.crt"
  # The users distroless has (root, nobody, nonroot); images add theirs by uid.
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$mnt/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' > "$mnt/etc/group"
  mkdir -p "$mnt/tmp" "$mnt/root" "$mnt/home/nonroot" "$mnt/var/tmp"
  chmod 1777 "$mnt/tmp" "$mnt/var/tmp"; chmod 700 "$mnt/root"; chown 65532:65532 "$mnt/home/nonroot"
  # Documentation other than the licences (copyright files stay), as distroless does.
  find "$mnt/usr/share/doc" -type f ! -name copyright -delete
  rm -rf "$mnt/usr/share/man" "$mnt/usr/share/info" "$mnt/usr/share/lintian"
  buildah umount "$CTR" >/dev/null
  buildah config --env PATH=/usr/local/bin:/usr/bin:/bin --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --label org.opencontainers.image.description="libc6 + libgcc-s1 + ca-certificates + tzdata from Debian $SUITE (local stand-in for gcr.io/distroless/cc-debian13)" \
    "$CTR"
  buildah commit -q --rm "$CTR" "$RUNTIME_TAG" >/dev/null; CTR=""
  say "runtime: $RUNTIME_TAG"
}

if [[ $FORCE == 1 ]] || ! have_image "$BUILDER_TAG"; then make_builder; else say "builder $BUILDER_TAG present"; fi
if [[ $FORCE == 1 ]] || ! have_image "$RUNTIME_TAG"; then make_runtime; else say "runtime $RUNTIME_TAG present"; fi
