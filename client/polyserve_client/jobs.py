"""A submitted job: its last known state, ``refresh()``, ``wait()`` and ``result()``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from polyserve_client.errors import JobFailed, JobTimeout

if TYPE_CHECKING:
    from polyserve_client.client import Polyserve

FINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})


class Job:
    """The gateway's job document (``id``, ``status``, ``route``, ``error``...) plus the calls that act on it."""

    def __init__(self, client: Polyserve, doc: dict[str, Any]) -> None:
        self.client = client
        self.doc = doc

    @property
    def id(self) -> str:
        return str(self.doc["id"])

    @property
    def status(self) -> str:
        return str(self.doc.get("status", "queued"))

    @property
    def done(self) -> bool:
        return self.status in FINAL_STATUSES

    def refresh(self) -> Job:
        self.doc = self.client.job(self.id).doc
        return self

    def cancel(self) -> Job:
        self.doc = self.client.cancel_job(self.id).doc
        return self

    def wait(self, timeout_s: float = 600.0, poll_s: float = 0.5,
             on_update: Callable[[Job], None] | None = None) -> Job:
        """Poll until the job is final; raise :class:`JobFailed` if it failed or was canceled."""
        deadline = time.monotonic() + timeout_s
        while not self.refresh().done:
            if on_update is not None:
                on_update(self)
            if time.monotonic() >= deadline:
                raise JobTimeout(f"job {self.id} still {self.status} after {timeout_s:.0f} s")
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
        if self.status != "succeeded":
            error = self.doc.get("error") or {}
            raise JobFailed(409, str(error.get("code") or f"job_{self.status}"),
                            str(error.get("message") or f"the job ended {self.status}"))
        return self

    def result(self) -> Any:
        """The answer of the job's route: decoded JSON, or the text (SRT, VTT, plain text)."""
        response = self.client.job_result(self.id)
        if "json" in response.headers.get("Content-Type", ""):
            return response.json()
        return response.text
