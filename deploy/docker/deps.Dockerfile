# syntax=docker/dockerfile:1
# The dependency layer the service images share: the Python packages of some extras of pyproject.toml, in one
# layer on top of polyserve/base. `make images` builds two of them:
#   models (text, vision, audio, fusion):  EXTRAS=text,vision,audio,fusion  -> polyserve/deps:0.1.0-cpu (or -cuda)
#   gateway (no torch):                    EXTRAS=gateway                   -> polyserve/deps-gateway:0.1.0
# Packages come from PyPI (or the mirror pip is configured with in .build-inputs/pip.conf) and from the
# wheelhouse .build-inputs/wheels; both are prepared on the host by deploy/docker/build_inputs.py and stay in
# the builder stage, out of the image. torch: TORCH_SPEC (CPU: torch==2.13.0+cpu from the wheelhouse or
# TORCH_INDEX_URL; CUDA: torch==2.13.0 from PyPI, whose wheels carry the CUDA libraries); empty for no torch.
ARG BASE=polyserve/base:0.1.0

# The requirement lines of the extras, worked out from pyproject.toml in a stage of their own: the builder copies
# only the result, so an edit elsewhere in pyproject.toml (dev tools, pytest settings) reuses the cached layers.
# hadolint ignore=DL3006
FROM ${BASE} AS requirements
ARG EXTRAS=text,vision,audio,fusion
WORKDIR /home/polyserve
COPY pyproject.toml deploy/docker/requirements.py ./
RUN python3 requirements.py "${EXTRAS}" | grep -v '^torch' > requirements.txt

# hadolint ignore=DL3006
FROM ${BASE} AS builder
ARG EXTRAS=text,vision,audio,fusion
ARG TORCH_SPEC=torch==2.13.0+cpu
ARG TORCH_INDEX_URL=""
ENV PIP_CONFIG_FILE=/build-inputs/pip.conf
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
USER 0:0
COPY .build-inputs/ /build-inputs/
# torch first: the largest download, and the one that changes least.
RUN if [ -n "${TORCH_SPEC}" ]; then \
        pip install --no-cache-dir ${TORCH_INDEX_URL:+--extra-index-url "${TORCH_INDEX_URL}"} "${TORCH_SPEC}"; \
    fi
WORKDIR /src
COPY --from=requirements /home/polyserve/requirements.txt ./
# torch stays the one installed above (a constraint keeps its local version label, e.g. +cpu: a package asking
# for torch must not swap it for PyPI's CUDA build).
# rapidocr asks for the GUI build of OpenCV; the vision extra lists its real needs, so it goes in with --no-deps.
RUN (pip freeze | grep '^torch==' || true) > constraints.txt \
    && pip install --no-cache-dir -c constraints.txt -r requirements.txt \
    && if [[ ",${EXTRAS}," == *",vision,"* ]]; then pip install --no-cache-dir --no-deps rapidocr-onnxruntime==1.4.4; fi

# hadolint ignore=DL3006
FROM ${BASE}
COPY --from=builder /opt/venv /opt/venv
HEALTHCHECK NONE
