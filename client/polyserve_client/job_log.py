"""The jobs this machine submitted, kept in a small JSON file so that ``polyserve jobs list`` can show them
(the gateway has no route that lists a caller's jobs)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from polyserve_client.jobs import Job

MAX_ENTRIES = 200


def default_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "polyserve" / "jobs.json"


class JobLog:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def entries(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        return [entry for entry in data if isinstance(entry, dict) and "id" in entry] if isinstance(data, list) else []

    def record(self, job: Job, what: str) -> None:
        entries = [*self.entries(), {"id": job.id, "what": what, "submitted": int(time.time())}][-MAX_ENTRIES:]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(entries, indent=1))
