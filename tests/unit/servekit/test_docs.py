"""The documentation a new user reads stays true to the code."""

from __future__ import annotations

from pathlib import Path

from servekit.settings_doc import reference

ROOT = Path(__file__).resolve().parents[3]


def test_configuration_reference_matches_the_settings_classes() -> None:
    written = (ROOT / "docs" / "configuration.md").read_text()
    assert written == reference(), "run: python -m servekit.settings_doc --write docs/configuration.md"


def test_readme_names_only_variables_that_exist() -> None:
    """Every variable the README names is read by a settings class or interpolated by docker-compose.yml."""
    import re

    known = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", reference()))
    known |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    readme = (ROOT / "README.md").read_text()
    for name in set(re.findall(r"\b((?:GATEWAY|TEXT|VISION|AUDIO|FUSION|POLYSERVE)_[A-Z0-9_]+)\b", readme)):
        assert name in known, f"README mentions {name}, which no settings class or compose file reads"


def test_readme_gives_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
