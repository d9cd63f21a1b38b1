"""The app factory every service builds on: errors, request ids, logs, metrics, health, limits, auth."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue

from servekit.context import install_request_context
from servekit.errors import Unauthorized, register_error_handlers
from servekit.logs import configure_logging
from servekit.metrics import ServiceMetrics
from servekit.protocol import INTERNAL_TOKEN_HEADER
from servekit.settings import ModelRuntimeSettings, ServiceSettings
from servekit.slots import AppSlot

if TYPE_CHECKING:
    from servekit.models import ModelSpec
    from servekit.routes import EmbedIntake
from servekit.tracing import install_tracing

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

ReadyCheck = Callable[[], tuple[bool, dict[str, Any]]]
S = TypeVar("S", bound=ServiceSettings)
SETTINGS: AppSlot[ServiceSettings] = AppSlot("settings")
METRICS: AppSlot[ServiceMetrics] = AppSlot("metrics")


def _always_ready() -> tuple[bool, dict[str, Any]]:
    return True, {}


def install_health(app: Flask, ready_check: ReadyCheck) -> None:
    """``/healthz``: the process answers. ``/readyz``: models loaded and warmed up (503 until then)."""

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> ResponseReturnValue:
        ready, detail = ready_check()
        return jsonify(status="ready" if ready else "not_ready", **detail), (200 if ready else 503)


def install_internal_auth(app: Flask, token: str) -> None:
    """Every route but health and metrics demands the shared internal token."""
    expected = token.encode()

    @app.before_request
    def _check_token() -> None:
        if request.path in OPEN_PATHS:
            return
        given = request.headers.get(INTERNAL_TOKEN_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            raise Unauthorized("missing or wrong internal token", code="invalid_internal_token")


def create_service_app(
    name: str,
    settings: ServiceSettings,
    *,
    ready_check: ReadyCheck = _always_ready,
) -> Flask:
    """A Flask app with the kernel installed; the service adds its own blueprints."""
    configure_logging(name, settings.log_level)
    # Root and instance paths are given: Flask would otherwise look for an importable package called like the
    # service, and trip over whatever folder of that name sits on sys.path (a test folder, say). Neither is used.
    here = Path(__file__).resolve().parent
    app = Flask(name, root_path=str(here), instance_path=str(here / "instance"))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider has it; the base type not
    SETTINGS.set(app, settings)
    metrics = METRICS.set(app, ServiceMetrics(name))
    register_error_handlers(app)
    install_request_context(app, settings.request_timeout_s)
    install_tracing(app, name)
    if settings.internal_token and settings.require_internal_token:
        install_internal_auth(app, settings.internal_token)
    metrics.install(app)
    install_health(app, ready_check)
    return app


def create_model_service(
    name: str,
    settings: ModelRuntimeSettings,
    registry: Mapping[str, str],
    blueprints: Sequence[Blueprint],
    *,
    embed_intake: EmbedIntake,
    specs: Sequence[ModelSpec] | None = None,
    load_in_background: bool = True,
) -> Flask:
    """An encoder app: the kernel, a :class:`ModelPool` of the configured models (``specs``, by default
    ``settings.models``; ready once loaded and warmed up), the kernel's ``/v1/embed`` and ``/v1/models`` over
    the service's ``embed_intake``, and the service's own blueprints."""
    from servekit.models import POOL, ModelPool
    from servekit.routes import encoder_blueprint

    pool_ref: list[ModelPool] = []
    app = create_service_app(name, settings, ready_check=lambda: pool_ref[0].ready_check())
    pool = ModelPool(settings.models if specs is None else specs, registry, settings, metrics_of(app))
    pool_ref.append(pool)
    POOL.set(app, pool)
    app.register_blueprint(encoder_blueprint(embed_intake))
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    pool.start(background=load_in_background)
    return app


def current_settings(kind: type[S]) -> S:
    """The settings of the app serving the current request, as the service's own settings class."""
    settings = SETTINGS.current()
    if not isinstance(settings, kind):
        raise TypeError(f"this app's settings are {type(settings).__name__}, not {kind.__name__}")
    return settings


def metrics_of(app: Flask) -> ServiceMetrics:
    return METRICS.of(app)
