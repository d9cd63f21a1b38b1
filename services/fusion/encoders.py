"""The encoder services as the fusion service sees them: one pooled client each, and their model catalogs
(tasks and embedding spaces, from ``GET /v1/models``), cached for a short while."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from servekit.client import CallContext, build_clients
from servekit.codecs import base64_to_vector
from servekit.errors import ApiError, DeadlineExceeded, UpstreamUnavailable
from services.fusion.settings import FusionSettings


@dataclass(frozen=True)
class ModelInfo:
    id: str
    tasks: tuple[str, ...]
    space: str | None


@dataclass(frozen=True)
class Embedded:
    vector: np.ndarray
    space: str
    model: str


def modality_unavailable(modality: str, cause: ApiError) -> ApiError:
    """503 naming the modality a request needs and the service that cannot give it; 504 when it is the
    request's own deadline that ran out first."""
    if cause.status == DeadlineExceeded.status:  # ours, or relayed from an encoder that ran out of time
        return DeadlineExceeded(f"the {modality} modality did not answer within the request's deadline: "
                                f"{cause.message}", param=modality)
    return UpstreamUnavailable(f"the {modality} modality is unavailable: {cause.message}", param=modality,
                               code=f"{modality}_unavailable", headers={"Retry-After": "5"})


class Encoders:
    """Clients of the text, vision and audio services, shared by every request thread."""

    def __init__(self, settings: FusionSettings) -> None:
        self.settings = settings
        self.clients = build_clients(settings)
        self._catalogs: dict[str, tuple[float, list[ModelInfo]]] = {}
        self._lock = threading.Lock()

    def models(self, service: str, context: CallContext | None = None) -> list[ModelInfo]:
        """The service's models (cached ``catalog_ttl_s``); raises when the service cannot be reached."""
        with self._lock:
            cached = self._catalogs.get(service)
        if cached and time.monotonic() - cached[0] < self.settings.catalog_ttl_s:
            return cached[1]
        body = self.clients[service].get_json("/v1/models", context=context, timeout_s=5.0)
        models = [ModelInfo(str(m["id"]), tuple(m.get("tasks") or ()), m.get("space"))
                  for m in body.get("data", [])]
        with self._lock:
            self._catalogs[service] = (time.monotonic(), models)
        return models

    def model_for(self, service: str, task: str, context: CallContext | None = None) -> ModelInfo | None:
        """The first model of ``service`` serving ``task`` (the service's default for it), if any."""
        return next((m for m in self.models(service, context) if task in m.tasks), None)

    def text_model_in(self, space: str | None, context: CallContext | None = None) -> ModelInfo | None:
        """A text model whose vectors live in ``space``: the text tower of a joint space (CLIP, CLAP)."""
        if space is None:
            return None
        return next((m for m in self.models("text", context) if m.space == space and "embed" in m.tasks), None)

    def embed(self, service: str, payload: str, context: CallContext, model: str | None = None) -> Embedded:
        """One input through ``POST /v1/embed`` (text, or a base64 image / audio clip)."""
        return self.embed_many(service, [payload], context, model)[0]

    def embed_many(self, service: str, payloads: list[str], context: CallContext,
                   model: str | None = None) -> list[Embedded]:
        """Several inputs in one ``POST /v1/embed`` (all-or-nothing, as the encoders answer it)."""
        body: dict[str, Any] = {"input": payloads, "encoding_format": "base64"}
        if model:
            body["model"] = model
        answer = self.clients[service].post_json("/v1/embed", body, context=context, queue=model or "")
        space = str(answer.get("space") or f"{service}:{answer.get('model')}")
        return [Embedded(base64_to_vector(entry["embedding"]).astype(np.float64), space, str(answer.get("model")))
                for entry in answer["data"]]

    def call(self, service: str, path: str, body: dict[str, Any], context: CallContext) -> Any:
        return self.clients[service].post_json(path, body, context=context)

    def readiness(self) -> dict[str, str]:
        return {name: ("ready" if client.is_ready(0.5) else "not_ready") for name, client in self.clients.items()}

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
