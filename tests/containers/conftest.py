"""The containerised stack, built and brought up once per session (`make test` runs it when a Docker Engine
answers; `make docker-engine` installs and starts one). Images are (re)built first with the same command as
`make images`: a warm layer cache makes that a matter of seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.containers.compose_stack import ComposeStack, engine_problem
from tests.support.processes import ROOT, free_port

pytestmark = pytest.mark.containers


@pytest.fixture(scope="session")
def images() -> float:
    """Build every image (``deploy/docker/build_images.py``, as `make images`); the seconds it took."""
    problem = engine_problem()
    if problem:
        pytest.skip(problem)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "deploy/docker/build_images.py", "--quiet"], cwd=ROOT,
                            capture_output=True, text=True, timeout=3600, check=False)
    if result.returncode != 0:
        pytest.fail(f"make images failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    print(result.stdout)
    return time.monotonic() - started


@pytest.fixture(scope="session")
def stack(images: float, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    """The CPU profile up and healthy (compose waits on every health check), torn down with its volumes."""
    running = ComposeStack(f"polyserve-test-{os.getpid()}", tmp_path_factory.mktemp("compose"), free_port())
    started, since = time.monotonic(), time.time()
    try:
        running.up()
        print(f"containerised stack healthy {time.monotonic() - started:.1f} s after `compose up`")
        for service, seconds in running.seconds_to_healthy(since).items():
            print(f"  {service}: container start to first healthy check {seconds:.1f} s")
        yield running
    finally:
        try:
            running.down()
        finally:
            running.client.close()
