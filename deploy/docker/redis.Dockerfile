# syntax=docker/dockerfile:1
# Redis from Debian's package, for sites where the stock redis image cannot be pulled (no registry): `make images`
# builds it only then, as polyserve/redis:0.1.0, and the compose file takes it through POLYSERVE_REDIS_IMAGE.
ARG BASE_IMAGE=debian:bookworm-slim
# checkov:skip=CKV_DOCKER_7: the base image is a build argument, set above to an explicit version tag.
# hadolint ignore=DL3006
FROM ${BASE_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data \
    && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["redis-cli", "ping"]
CMD ["redis-server", "--protected-mode", "no"]
