"""The documentation a new user reads stays true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from servekit.settings_doc import reference

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
# Every page a reader may open: the README, the architecture notes and the reference pages under docs/.
PAGES = sorted([ROOT / "README.md", ROOT / "ARCHITECTURE.md", *DOCS.glob("*.md")])
PAGE_IDS = [str(page.relative_to(ROOT)) for page in PAGES]
VARIABLE = re.compile(r"\b((?:GATEWAY|TEXT|VISION|AUDIO|FUSION|POLYSERVE)_[A-Z0-9_]+)\b")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# A repository path in backticks: `servekit/models.py`, `tests/deploy/`.
CODE_PATH = re.compile(r"`((?:servekit|services|gateway|tests|deploy|scripts|bench|docs)/[\w./-]*)`")
# Files the pages name that are written on first use, not kept in git.
GENERATED = {"deploy/compose/polyserve.env", "deploy/compose/secrets/api_keys.txt"}


def known_variables() -> set[str]:
    """Variables a settings class reads, docker-compose.yml interpolates, or the client and the browser tests read
    (``POLYSERVE_URL``, ``POLYSERVE_ARTIFACTS``: quoted names in their sources)."""
    known = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", reference()))
    known |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    for source in [*(ROOT / "client").rglob("*.py"), *(ROOT / "tests" / "e2e").rglob("*.py")]:
        known |= set(re.findall(r"[\"'](POLYSERVE_[A-Z0-9_]+)[\"']", source.read_text()))
    return known


def relative_targets(page: Path) -> list[str]:
    """The relative link targets of a Markdown page, without their #anchor; web and mail links left out."""
    targets = (match.split("#", 1)[0] for match in LINK.findall(page.read_text()))
    return [target for target in targets if target and not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


def test_configuration_reference_matches_the_settings_classes() -> None:
    written = (DOCS / "configuration.md").read_text()
    assert written == reference(), "run: python -m servekit.settings_doc --write docs/configuration.md"


def test_the_pages_exist() -> None:
    assert {"README.md", "ARCHITECTURE.md", "docs/README.md", "docs/configuration.md"} <= set(PAGE_IDS)


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_pages_name_only_variables_that_exist(page: Path) -> None:
    """Every variable a page names is read by a settings class or interpolated by docker-compose.yml."""
    known = known_variables()
    unknown = sorted(set(VARIABLE.findall(page.read_text())) - known)
    assert not unknown, f"{page.name} mentions {unknown}, which no settings class or compose file reads"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_relative_links_point_to_existing_files(page: Path) -> None:
    missing = [target for target in relative_targets(page) if not (page.parent / target).exists()]
    assert not missing, f"{page.name} links to files that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_code_paths_the_pages_name_exist(page: Path) -> None:
    """A renamed module or moved test shows up here, not in a reader's failed search."""
    named = set(CODE_PATH.findall(page.read_text())) - GENERATED
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, f"{page.name} names paths that do not exist: {missing}"


def test_the_link_check_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("[ok](page.md#top) [web](https://example.com) [gone](docs/nothing.md)\n")
    assert [t for t in relative_targets(page) if not (tmp_path / t).exists()] == ["docs/nothing.md"]


def test_readme_gives_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
