"""Print the requirements of one extra of pyproject.toml, one per line, for ``pip install -r``.

Images install their dependencies in a layer of their own, before the sources are copied, so a code change
does not reinstall torch. pyproject.toml stays the single list of dependencies: this resolves the extra
(and the ``polyserve[...]`` extras it includes) into plain requirement lines.
Usage: ``python3 requirements.py text > requirements.txt`` (several extras: ``text,vision``).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

SELF_EXTRA = re.compile(r"^polyserve\[(?P<extras>[^\]]+)\]$")


def extra_requirements(project: dict, extra: str, seen: set[str] | None = None) -> list[str]:
    """The requirements of ``extra``, with the project's own extras expanded in place."""
    seen = set() if seen is None else seen
    if extra in seen:
        return []
    seen.add(extra)
    extras = project.get("optional-dependencies", {})
    if extra not in extras:
        raise SystemExit(f"unknown extra {extra!r}; pyproject.toml has: {', '.join(sorted(extras))}")
    lines: list[str] = []
    for requirement in extras[extra]:
        nested = SELF_EXTRA.match(requirement.replace(" ", ""))
        if nested:
            for name in nested["extras"].split(","):
                lines += extra_requirements(project, name.strip(), seen)
        else:
            lines.append(requirement)
    return lines


def requirements(pyproject: Path, extra: str) -> list[str]:
    """The project's own dependencies plus those of ``extra``, without duplicates, in order."""
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = list(project.get("dependencies", [])) + extra_requirements(project, extra)
    return list(dict.fromkeys(lines))


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit("usage: requirements.py EXTRA[,EXTRA...]  (reads ./pyproject.toml)")
    lines = [line for extra in argv[1].split(",") for line in requirements(Path("pyproject.toml"), extra.strip())]
    print("\n".join(dict.fromkeys(lines)))


if __name__ == "__main__":
    main(sys.argv)
