# syntax=docker/dockerfile:1
# The base every polyserve image starts from: Debian's Python 3.11, an empty virtual environment at /opt/venv
# and the unprivileged user 10001. Built first by `make images` (deploy/docker/build_images.py):
#   docker build -f deploy/docker/base.Dockerfile --build-arg BASE_IMAGE=debian:bookworm-slim -t polyserve/base:0.1.0 .
# BASE_IMAGE is any Debian bookworm image; where none can be pulled, build_images.py makes one from Debian's
# packages with mmdebstrap and `docker import`. One base serves the CPU and the CUDA variants: the CUDA torch
# wheels from PyPI bring their own CUDA libraries and the driver comes from the host's container toolkit.
ARG BASE_IMAGE=debian:bookworm-slim
# checkov:skip=CKV_DOCKER_7: the base image is a build argument, set above to an explicit version tag.
# hadolint ignore=DL3006
FROM ${BASE_IMAGE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The distribution's Python tracks security updates; pinning its exact Debian revision would break the build
# every time the mirror moves on. A base that already has them (mmdebstrap --include) skips the download.
# hadolint ignore=DL3008
RUN if ! python3 -c "import venv, ensurepip" 2>/dev/null || [ ! -e /etc/ssl/certs/ca-certificates.crt ]; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv \
    && groupadd --system --gid 10001 polyserve \
    && useradd --system --uid 10001 --gid polyserve --create-home --home-dir /home/polyserve \
        --shell /usr/sbin/nologin polyserve
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    XDG_CACHE_HOME=/tmp/cache
WORKDIR /home/polyserve
USER 10001:10001
HEALTHCHECK NONE
