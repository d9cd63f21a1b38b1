"""Video ingest jobs whose progress lives on disk, so that a restarted fusion service resumes them.

Each job is a folder ``<data_dir>/videos/<job_id>/``: ``video`` (the uploaded bytes), ``job.json`` (state and the
start times of the segments already stored, rewritten atomically after each batch) and ``transcript.json`` (the
audio track's transcript, kept so that a resumed job does not transcribe again). Segments are upserts by id, so a
batch cut short by a crash is simply run again. One worker thread runs the jobs in order of submission; at start
the service queues every job that was queued or running when it stopped. A finished job keeps its state (not
its video); the last MAX_FINISHED finished jobs are remembered.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from servekit.client import CallContext
from servekit.errors import ApiError, Conflict, NotFound
from servekit.slots import AppSlot
from services.fusion.runtime import FusionRuntime
from services.fusion.video.decoding import Sampling, VideoLimits, decode_audio_track, decode_video
from services.fusion.video.encoding import VideoSource, encode_segments, transcribe_track
from services.fusion.video.segments import TranscriptPiece, find_segments, plan_segments

log = logging.getLogger(__name__)
ACTIVE = ("queued", "running")
MAX_FINISHED = 1000
T = TypeVar("T")
INTERNAL_ERROR = {"message": "internal error", "type": "server_error", "param": None, "code": "internal_error"}


def limits_of(rt: FusionRuntime) -> VideoLimits:
    s = rt.settings
    return VideoLimits(s.video_max_duration_s, s.video_max_width, s.video_max_height, s.video_max_frames,
                       int(s.video_max_duration_s * s.video_max_fps))


def sampling_of(rt: FusionRuntime) -> Sampling:
    s = rt.settings
    return Sampling(s.video_frame_rate, s.video_scene_threshold, s.video_frame_side)


@dataclass
class VideoJob:
    id: str
    collection: str
    video_id: str
    metadata: dict[str, Any]
    allow_degraded: bool
    filename: str | None = None
    status: str = "queued"
    stage: str = "queued"
    segments_total: int | None = None
    segments_done: list[int] = field(default_factory=list)  # start_ms of each stored segment
    segments_stored: int = 0
    duration_s: float | None = None
    frames: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def describe(self) -> dict[str, Any]:
        done = len(self.segments_done)
        total = self.segments_total
        return {"object": "video_job", "id": self.id, "collection": self.collection, "video_id": self.video_id,
                "status": self.status, "stage": self.stage, "duration_s": self.duration_s, "frames": self.frames,
                "segments_total": total, "segments_done": done, "segments_stored": self.segments_stored,
                "progress": round(done / total, 4) if total else (1.0 if self.status == "succeeded" else 0.0),
                "errors": self.errors[:100], "attempts": self.attempts, "created": int(self.created),
                "finished": int(self.finished) if self.finished else None}


class JobFolder:
    """The files of one job."""

    def __init__(self, root: Path, job_id: str) -> None:
        self.path = root / job_id

    @property
    def video(self) -> Path:
        return self.path / "video"

    def save(self, job: VideoJob) -> None:
        """Write the state atomically: a crash leaves the old state or the new one, never half of one."""
        temporary = self.path / "job.json.tmp"
        temporary.write_text(json.dumps(asdict(job)))
        os.replace(temporary, self.path / "job.json")

    def load(self) -> VideoJob:
        return VideoJob(**json.loads((self.path / "job.json").read_text()))

    def transcript(self) -> list[TranscriptPiece] | None:
        path = self.path / "transcript.json"
        if not path.exists():
            return None
        return [TranscriptPiece(**piece) for piece in json.loads(path.read_text())]

    def save_transcript(self, pieces: list[TranscriptPiece]) -> None:
        temporary = self.path / "transcript.json.tmp"
        temporary.write_text(json.dumps([asdict(p) for p in pieces]))
        os.replace(temporary, self.path / "transcript.json")

    def drop_media(self) -> None:
        """A finished job keeps its state, not the video."""
        self.video.unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class Cancelled(Exception):
    """The job's video was deleted while the job ran."""


class Interrupted(Exception):
    """The service is stopping while the job runs."""


class VideoJobs:
    """Accepts video ingest jobs, runs them one at a time in a worker thread, and resumes unfinished ones."""

    def __init__(self, runtime: FusionRuntime) -> None:
        self.runtime = runtime
        self.root = runtime.settings.data_dir / "videos"
        self.root.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, VideoJob] = {}
        self._cancelled: set[str] = set()
        self._queue: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()

    # ---- accepting and finding jobs ------------------------------------------------------------------

    def new_folder(self) -> JobFolder:
        folder = JobFolder(self.root, uuid.uuid4().hex)
        folder.path.mkdir(parents=True)
        return folder

    def submit(self, folder: JobFolder, collection: str, video_id: str, metadata: dict[str, Any],
               allow_degraded: bool, filename: str | None) -> VideoJob:
        """Queue the job whose video lies in ``folder``; 409 while another job of the same video is active."""
        with self._lock:
            if any(j.collection == collection and j.video_id == video_id and j.status in ACTIVE
                   for j in self._jobs.values()):
                raise Conflict(f"video {video_id!r} is already being ingested into {collection!r}",
                               param="video_id", code="video_job_active")
            job = VideoJob(folder.path.name, collection, video_id, metadata, allow_degraded, filename)
            folder.save(job)
            self._jobs[job.id] = job
        self._enqueue(job.id)
        return job

    def resume_pending(self) -> list[str]:
        """Load every job on disk; queue the unfinished ones, oldest first (called once at start)."""
        jobs = []
        for state in self.root.glob("*/job.json"):
            try:
                jobs.append(JobFolder(self.root, state.parent.name).load())
            except (OSError, ValueError, TypeError):
                log.warning("unreadable video job state", extra={"path": str(state)})
        resumed = []
        for job in sorted(jobs, key=lambda j: j.created):
            with self._lock:
                self._jobs[job.id] = job
            if job.status in ACTIVE:
                job.status = "queued"
                resumed.append(job.id)
                self._enqueue(job.id)
        return resumed

    def get(self, collection: str, job_id: str) -> VideoJob:
        job = self._jobs.get(job_id)
        if job is None or job.collection != collection:
            raise NotFound(f"no video job {job_id!r} in collection {collection!r}", param="job_id",
                           code="job_not_found")
        return job

    def of_video(self, collection: str, video_id: str) -> list[VideoJob]:
        """The video's jobs, newest first."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.collection == collection and j.video_id == video_id]
        return sorted(jobs, key=lambda j: j.created, reverse=True)

    def cancel_video(self, collection: str, video_id: str) -> None:
        """Stop the video's active jobs (between two batches) before its segments are deleted."""
        for job in self.of_video(collection, video_id):
            if job.status in ACTIVE:
                self._cancelled.add(job.id)

    def delete_segments(self, collection: str, video_id: str) -> int:
        """Delete every stored segment of the video; how many there were."""
        store = self.runtime.store
        return store.delete(collection, list(find_segments(store, collection, video_id)))

    # ---- running -----------------------------------------------------------------------------------

    def _enqueue(self, job_id: str) -> None:
        self._queue.put(job_id)
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="video-jobs", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        while not self._stopping.is_set():
            job = self._jobs.get(self._queue.get())
            if job is not None and job.status in ACTIVE:
                self._run(job, JobFolder(self.root, job.id))

    def _run(self, job: VideoJob, folder: JobFolder) -> None:
        job.status, job.attempts = "running", job.attempts + 1
        folder.save(job)
        try:
            self._ingest(job, folder)
            job.status, job.stage = "succeeded", "done"
        except Cancelled:
            job.status = "cancelled"
            self.delete_segments(job.collection, job.video_id)  # a batch may have landed after the delete
        except Exception as error:  # noqa: BLE001 - a job must record its end, whatever happened
            if self._stopping.is_set():  # stopped by (or failing because of) the service's own stop
                log.info("video job interrupted; the next start resumes it", extra={"job": job.id})
                return
            self._failed(job, error)
        job.finished = time.time()
        folder.save(job)
        folder.drop_media()
        self._cancelled.discard(job.id)
        self._forget_old()

    def _forget_old(self) -> None:
        """Keep the state of the last MAX_FINISHED finished jobs (their videos' segments stay, of course)."""
        with self._lock:
            finished = sorted((j for j in self._jobs.values() if j.status not in ACTIVE), key=lambda j: j.created)
            old = finished[:max(0, len(finished) - MAX_FINISHED)]
            for job in old:
                del self._jobs[job.id]
        for job in old:
            JobFolder(self.root, job.id).remove()

    def _failed(self, job: VideoJob, error: Exception) -> None:
        job.status = "failed"
        if isinstance(error, ApiError):
            job.errors.append({"stage": job.stage, "error": error.body()["error"]})
        else:
            log.error("video job failed", extra={"job": job.id}, exc_info=error)
            job.errors.append({"stage": job.stage, "error": INTERNAL_ERROR})

    def _check(self, job: VideoJob) -> None:
        """Between two steps: stop for a deleted video, or for the service's stop (the job stays unfinished on
        disk, and the next start resumes it)."""
        if self._stopping.is_set():
            raise Interrupted(job.id)
        if job.id in self._cancelled:
            raise Cancelled(job.id)

    def stop(self) -> None:
        """The service is stopping: the running job ends at its next step, still unfinished on disk."""
        self._stopping.set()

    def _ingest(self, job: VideoJob, folder: JobFolder) -> None:
        rt = self.runtime
        rt.store.require(job.collection)
        job.stage = "decoding"
        decoded = decode_video(folder.video, limits_of(rt), sampling_of(rt))
        plans = plan_segments(decoded.frames, decoded.duration_s, rt.settings.video_segment_s)
        job.duration_s, job.frames, job.segments_total = round(decoded.duration_s, 3), len(decoded.frames), len(plans)
        samples = decode_audio_track(folder.video, rt.settings.video_max_duration_s)
        self._check(job)
        transcript = folder.transcript()
        if transcript is None:
            job.stage = "transcribing"
            folder.save(job)
            transcript = [] if samples is None else self._transcribe(job, samples)
            folder.save_transcript(transcript)
        job.stage = "encoding"
        folder.save(job)
        source = VideoSource(job.video_id, job.metadata, decoded.frames, transcript, samples)
        pending = [p for p in plans if p.start_ms not in set(job.segments_done)]
        size = rt.settings.video_segments_per_batch
        for start in range(0, len(pending), size):
            self._check(job)
            batch = pending[start:start + size]
            job.segments_stored += with_retries(partial(encode_segments, rt, job.collection, source, batch,
                                                        job.allow_degraded), rt.settings.video_retry_delays_s)
            job.segments_done.extend(p.start_ms for p in batch)
            folder.save(job)

    def _transcribe(self, job: VideoJob, samples: np.ndarray) -> list[TranscriptPiece]:
        timeout = self.runtime.settings.video_call_timeout_s
        try:
            return with_retries(partial(transcribe_track, self.runtime, samples, CallContext(f"video-{job.id}"),
                                        timeout), self.runtime.settings.video_retry_delays_s)
        except ApiError as error:
            if error.status < 500 or not job.allow_degraded:
                raise
            job.errors.append({"stage": "transcribing", "degraded": True, "error": error.body()["error"]})
            return []


def with_retries(work: Callable[[], T], delays_s: Sequence[float]) -> T:
    """Run ``work``; a server-side failure (an encoder restarting) is tried again after each pause."""
    for delay in delays_s:
        try:
            return work()
        except ApiError as error:
            if error.status < 500:
                raise
            time.sleep(delay)
    return work()


VIDEO_JOBS: AppSlot[VideoJobs] = AppSlot("video_jobs")

