"""The result cache: a repeated request to a cacheable route is answered from the store, byte for byte.

The key is a SHA-256 of the route, the model asked for, the model's version, and the exact input bytes and
parameters (JSON body bytes; or the form fields and file bytes of a multipart body; plus the query string).
The version of a model is a digest of its upstream's ``GET /v1/models`` entries (id, backend, space, tasks,
dimensions, device; not the load status), re-read every ``GATEWAY_CACHE_VERSION_TTL_S``: serving other weights
or another backend changes it, so stale results are never returned. Only 200 answers are kept.

``X-Cache: HIT | MISS | BYPASS`` says what happened. ``Cache-Control: no-cache`` skips the lookup (the fresh
answer is stored), ``no-store`` skips the cache altogether.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from typing import IO, Any

import redis
from cachetools import TTLCache
from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter

from gateway.cache_store import ResultStore
from gateway.routes.chat import cacheable as chat_cacheable
from gateway.settings import GatewaySettings
from gateway.upstreams import upstream
from servekit.app import metrics_of
from servekit.catalog import SERVICE_OF, upstream_of_route
from servekit.errors import ApiError
from servekit.jsonbody import request_json_or_none
from servekit.slots import AppSlot

log = logging.getLogger(__name__)

CACHE_HEADER = "X-Cache"
# Routes whose answers are cached only when the request says they repeat (chat: greedy or seeded, not streamed).
ROUTE_CONDITIONS: dict[str, Callable[[], bool]] = {"/v1/chat/completions": chat_cacheable}
VOLATILE_MODEL_FIELDS = frozenset({"status"})


class ModelVersions:
    """Digest of each upstream's model list, refreshed after ``ttl_s``; None while the upstream is unreachable."""

    def __init__(self, ttl_s: float) -> None:
        self._versions: TTLCache[str, str] = TTLCache(maxsize=16, ttl=ttl_s)
        self._lock = threading.Lock()

    def version(self, service: str) -> str | None:
        with self._lock:
            known = self._versions.get(service)
        if known is not None:
            return known
        try:
            answer = upstream(service).get_json("/v1/models", timeout_s=2.0)
        except ApiError:
            return None
        entries = [{k: v for k, v in entry.items() if k not in VOLATILE_MODEL_FIELDS}
                   for entry in answer.get("data", []) if isinstance(entry, dict)]
        digest = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:24]
        with self._lock:
            self._versions[service] = digest
        return digest


def _feed(digest: Any, *parts: str | bytes) -> None:
    """Length-prefixed, so that no two different inputs feed the same bytes."""
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)


def _stream_digest(stream: IO[bytes]) -> bytes:
    """SHA-256 of an uploaded file, read in chunks and rewound so that the route reads it whole."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.digest()


def upstream_for(rule: str) -> str | None:
    if rule == "/v1/embeddings":
        body = request_json_or_none()
        modality = body.get("modality", "text") if isinstance(body, dict) else "text"
        return SERVICE_OF.get(str(modality))
    return upstream_of_route(rule)


def requested_model() -> str:
    if request.mimetype == "application/json":
        body = request_json_or_none()
        return str(body.get("model") or "") if isinstance(body, dict) else ""
    return str(request.values.get("model") or "")


def input_digest() -> str:
    """SHA-256 of the exact inputs and parameters; files are read and rewound for the route."""
    digest = hashlib.sha256()
    _feed(digest, request.mimetype, request.query_string)
    if request.mimetype == "multipart/form-data":
        # Parts without a name are refused before the cache (gateway/intake.py); "" keeps the key total anyway.
        for name, value in sorted((name or "", value) for name, value in request.form.items(multi=True)):
            _feed(digest, "field", name, value)
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: item[0] or ""):
            _feed(digest, "file", name or "", upload.mimetype or "", _stream_digest(upload.stream))
    else:
        _feed(digest, "body", request.get_data(cache=True))
    return digest.hexdigest()


def cache_directives() -> set[str]:
    header = request.headers.get("Cache-Control", "")
    return {part.split("=", 1)[0].strip().lower() for part in header.split(",") if part.strip()}


def _pack(response: Response) -> bytes:
    return (response.content_type or "").encode() + b"\n" + response.get_data()


def _unpack(value: bytes) -> Response:
    content_type, _, body = value.partition(b"\n")
    return Response(body, status=200, content_type=content_type.decode())


class ResultCache:
    """Before the route: look the request up; after it: keep a fresh 200 answer."""

    def __init__(self, settings: GatewaySettings, store: ResultStore, registry: CollectorRegistry) -> None:
        self.store = store
        self._outcomes = Counter("gateway_cache_requests_total", "Cacheable requests by cache outcome.",
                                 ["outcome"], registry=registry)
        self._routes = frozenset(settings.cache_routes)
        self._max_entry = settings.cache_max_entry_bytes
        self._per_caller = settings.cache_per_caller
        self._versions = ModelVersions(settings.cache_version_ttl_s)

    def key(self, rule: str, service: str, version: str) -> str:
        digest = hashlib.sha256()
        caller = str(g.get("principal") or "") if self._per_caller else ""
        _feed(digest, rule, service, requested_model(), version, caller, input_digest())
        return digest.hexdigest()

    def before(self) -> Response | None:
        rule = request.url_rule
        if rule is None or request.method != "POST" or rule.rule not in self._routes:
            return None
        g.cache_status = "BYPASS"
        directives = cache_directives()
        condition = ROUTE_CONDITIONS.get(rule.rule)
        if "no-store" in directives or (condition is not None and not condition()):
            return None
        service = upstream_for(rule.rule)
        version = self._versions.version(service) if service else None
        if version is None:
            return None
        key = self.key(rule.rule, service or "", version)
        hit = None if "no-cache" in directives else self._get(key)
        if hit is not None:
            g.cache_status = "HIT"
            return _unpack(hit)
        g.cache_key, g.cache_status = key, "MISS"
        return None

    def after(self, response: Response) -> Response:
        status = g.get("cache_status")
        if status is None:
            return response
        key = g.get("cache_key")
        if key and response.status_code == 200 and not response.is_streamed:
            value = _pack(response)
            if len(value) <= self._max_entry:
                self._put(key, value)
        response.headers[CACHE_HEADER] = status
        self._outcomes.labels(status.lower()).inc()
        return response

    def _get(self, key: str) -> bytes | None:
        try:
            return self.store.get(key)
        except redis.RedisError as exc:
            log.warning("result cache unavailable: %s", type(exc).__name__)
            return None

    def _put(self, key: str, value: bytes) -> None:
        try:
            self.store.put(key, value)
        except redis.RedisError as exc:
            log.warning("result cache unavailable: %s", type(exc).__name__)


RESULT_CACHE: AppSlot[ResultCache] = AppSlot("result_cache")


def install_result_cache(app: Flask, settings: GatewaySettings, store: ResultStore) -> ResultCache:
    """Installed after authentication and rate limits: a hit is still authorised and counted."""
    cache = ResultCache(settings, store, metrics_of(app).registry)
    app.before_request(cache.before)
    app.after_request(cache.after)
    return RESULT_CACHE.set(app, cache)
