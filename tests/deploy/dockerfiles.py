"""Read what a Dockerfile tells the running container: environment, exposed port, health check, entrypoint.

A small reader for the instructions the consistency test needs, following the final stage back through the
stages it is built ``FROM`` (build arguments in ``FROM`` resolved to their defaults).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ARG_REFERENCE = re.compile(r"\$\{?(\w+)\}?")


@dataclass
class Stage:
    name: str | None
    parent: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ImageFacts:
    """The final stage of one Dockerfile, as a container started from it sees it."""

    path: Path
    env: dict[str, str]
    exposed_ports: tuple[int, ...]
    healthcheck: tuple[str, ...]
    entrypoint: tuple[str, ...]
    user: str | None

    @property
    def service(self) -> str | None:
        """The service the entrypoint runs (``python3 -m servekit.serve NAME``)."""
        parts = list(self.entrypoint)
        if "servekit.serve" in parts and parts.index("servekit.serve") + 1 < len(parts):
            return parts[parts.index("servekit.serve") + 1]
        return None


def logical_lines(text: str) -> list[str]:
    """Instructions with their backslash continuations joined and comment lines dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return lines


def parse_stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global build-argument defaults, and the stages in order."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = rest.split()
            image = ARG_REFERENCE.sub(lambda m: global_args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(name, image))
        elif stages:
            stages[-1].instructions.append((keyword, rest.strip()))
        elif keyword == "ARG":
            key, _, value = rest.partition("=")
            global_args[key.strip()] = value.strip().strip('"')
    return global_args, stages


def parse_env(rest: str) -> dict[str, str]:
    """``ENV A=1 B="two"`` (or the old ``ENV A 1``) as a dict."""
    words = shlex.split(rest)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def exec_form(rest: str) -> tuple[str, ...]:
    """A JSON-array instruction argument; shell form is returned as one string, which the checks reject."""
    try:
        value = json.loads(rest)
    except json.JSONDecodeError:
        return (rest,)
    return tuple(str(part) for part in value)


def stage_chain(stages: list[Stage]) -> list[Stage]:
    """The final stage and the stages it descends from, oldest first."""
    by_name = {stage.name: stage for stage in stages if stage.name}
    chain = [stages[-1]]
    while chain[-1].parent in by_name and by_name[chain[-1].parent] not in chain:
        chain.append(by_name[chain[-1].parent])
    return list(reversed(chain))


def read_dockerfile(path: Path) -> ImageFacts:
    _, stages = parse_stages(path.read_text())
    env: dict[str, str] = {}
    ports: list[int] = []
    healthcheck: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    user: str | None = None
    for stage in stage_chain(stages):
        for keyword, rest in stage.instructions:
            if keyword == "ENV":
                env.update(parse_env(rest))
            elif keyword == "EXPOSE":
                ports += [int(port.split("/")[0]) for port in rest.split()]
            elif keyword == "HEALTHCHECK":
                command = rest[rest.index("CMD") + 3:].strip() if "CMD" in rest else ""
                healthcheck = exec_form(command) if command else ()
            elif keyword == "ENTRYPOINT":
                entrypoint = exec_form(rest)
            elif keyword == "USER":
                user = rest
    return ImageFacts(path, env, tuple(ports), healthcheck, entrypoint, user)


def service_dockerfiles(root: Path) -> list[Path]:
    """Every service's Dockerfile: services/*/Dockerfile and gateway/Dockerfile."""
    return sorted(root.glob("services/*/Dockerfile")) + sorted(root.glob("gateway/Dockerfile"))
