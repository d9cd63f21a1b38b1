"""Bulk ingest as a background run (the public API calls it an ingest job): items are encoded and stored batch by
batch, and the run reports how far it got (items done, failed, with the error of each failed item). Every batch is
acknowledged to the store before the job counts it as done, so the progress shown is durable progress."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from servekit.errors import ApiError, NotFound
from servekit.slots import AppSlot
from services.fusion.inputs import Inputs
from services.fusion.retrieval import upsert_items
from services.fusion.runtime import FusionRuntime

MAX_JOBS = 200
log = logging.getLogger(__name__)
Item = tuple[str, dict[str, Any], Inputs]


@dataclass
class IngestRun:
    id: str
    collection: str
    total: int
    allow_degraded: bool
    status: str = "queued"
    done: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def describe(self) -> dict[str, Any]:
        return {"object": "ingest_job", "id": self.id, "collection": self.collection, "status": self.status,
                "total": self.total, "done": self.done, "succeeded": self.done - len(self.failed),
                "failed": len(self.failed), "errors": self.failed[:100],
                "progress": round(self.done / self.total, 4) if self.total else 1.0,
                "created": int(self.created), "finished": int(self.finished) if self.finished else None}


class IngestRuns:
    """Runs ingest jobs one batch at a time in a worker thread each; remembers the last MAX_JOBS jobs."""

    def __init__(self, runtime: FusionRuntime) -> None:
        self.runtime = runtime
        self._jobs: OrderedDict[str, IngestRun] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, collection: str, items: Sequence[Item], allow_degraded: bool) -> IngestRun:
        self.runtime.store.require(collection)
        job = IngestRun(uuid.uuid4().hex, collection, len(items), allow_degraded)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                self._jobs.popitem(last=False)
        threading.Thread(target=self._run, args=(job, list(items)), name=f"ingest-{job.id[:8]}",
                         daemon=True).start()
        return job

    def _run(self, job: IngestRun, items: list[Item]) -> None:
        job.status = "running"
        size = self.runtime.settings.ingest_batch_size
        try:
            for start in range(0, len(items), size):
                batch = items[start:start + size]
                results = upsert_items(self.runtime, job.collection, batch, job.allow_degraded)
                for offset, result in enumerate(results):
                    if isinstance(result, ApiError):
                        job.failed.append({"index": start + offset, "id": batch[offset][0],
                                           "error": result.body()["error"]})
                job.done += len(batch)
            job.status = "succeeded" if not job.failed else "completed_with_errors"
        except ApiError as error:
            job.status = "failed"
            job.failed.append({"index": job.done, "error": error.body()["error"]})
        except Exception:  # noqa: BLE001 - a job thread must record its end, whatever happened
            log.exception("ingest job failed", extra={"job": job.id})
            job.status = "failed"
            job.failed.append({"index": job.done, "error": {"message": "internal error", "type": "server_error",
                                                            "param": None, "code": "internal_error"}})
        finally:
            job.finished = time.time()

    def get(self, collection: str, job_id: str) -> IngestRun:
        job = self._jobs.get(job_id)
        if job is None or job.collection != collection:
            raise NotFound(f"no ingest job {job_id!r} in collection {collection!r}", param="job_id",
                           code="job_not_found")
        return job


INGEST_RUNS: AppSlot[IngestRuns] = AppSlot("ingest_runs")
