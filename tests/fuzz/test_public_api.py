"""Every public operation fuzzed by Schemathesis against the real stack: all phases (examples, coverage, fuzzing,
stateful over the document's links), checks for server errors, undocumented statuses, content types, response
schemas, and requests accepted or refused against the schema. CI-sized here; ``make fuzz`` runs it long.

A failure prints Schemathesis' report: each failing request as a curl command, then the services' log tails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz.schemathesis_run import fuzz
from tests.fuzz.stack import FuzzStack, fuzz_stack

pytestmark = pytest.mark.e2e

# Test cases per operation and phase in the normal test run (a few minutes in all); FUZZ_MAX_EXAMPLES overrides.
CI_MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzStack]:
    with fuzz_stack(Path(tmp_path_factory.mktemp("fuzz-fusion"))) as running:
        yield running


def test_the_public_api_survives_fuzzing_and_matches_its_document(stack: FuzzStack) -> None:
    result = fuzz(stack.url, stack.key, max_examples=CI_MAX_EXAMPLES, workers=2, seed=1)
    print(f"schemathesis: {result.cases} cases")
    assert result.cases > 0, result.output
    assert result.returncode == 0, f"{result.output}\n{stack.log_tails()}"
