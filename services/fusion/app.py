"""The fusion service: calls the encoders in parallel, fuses modalities, stores and searches collections."""

from __future__ import annotations

import atexit
from typing import Any

from flask import Flask, g

from servekit.app import create_service_app
from services.fusion.ingest import INGEST_RUNS, IngestRuns
from services.fusion.routes import BLUEPRINTS
from services.fusion.runtime import RUNTIME, FusionRuntime
from services.fusion.settings import FusionSettings
from services.fusion.video.jobs import VIDEO_JOBS, VideoJobs


def _ready_check(rt: FusionRuntime) -> Any:
    """Ready once the index is open (it is, when the app exists); encoders are reported, not required:
    requests that do not need a missing encoder still succeed."""

    def check() -> tuple[bool, dict[str, Any]]:
        return True, {"index": "open", "collections": len(rt.store.list_collections())}

    return check


def _keep_answer_margin(app: Flask, margin_s: float) -> None:
    """Encoder calls get the request's deadline minus a margin: the answer itself must fit in too."""

    @app.before_request
    def _shorten_deadline() -> None:
        if g.get("deadline") is not None:
            g.deadline -= margin_s


def create_app(settings: FusionSettings | None = None, *, load_in_background: bool = True) -> Flask:
    """``load_in_background`` is accepted for symmetry with the encoders; fusion loads no model."""
    settings = settings or FusionSettings()
    rt = FusionRuntime.build(settings)
    rt.store.list_collections()  # open the index now: a broken index fails the start, not a request
    app = create_service_app("fusion", settings, ready_check=_ready_check(rt))
    _keep_answer_margin(app, settings.answer_margin_s)
    RUNTIME.set(app, rt)
    INGEST_RUNS.set(app, IngestRuns(rt))
    videos = VideoJobs(rt)
    VIDEO_JOBS.set(app, videos)
    videos.resume_pending()  # video ingest jobs that a stop interrupted continue where they were
    atexit.register(rt.close)
    atexit.register(videos.stop)  # runs first: a job cut short by the stop stays unfinished, to be resumed
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app
