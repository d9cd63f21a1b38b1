"""The catalog is the one declaration of services and modalities: everything that lists them agrees with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from gateway.settings import GatewaySettings
from servekit.catalog import (
    ENCODERS,
    MODALITIES,
    MODALITY_SPECS,
    SERVICE_OF,
    SERVICES,
    UPSTREAMS,
    modality_of,
    service_of,
    upstream_of_route,
)
from servekit.models import ModelBackend, import_object
from servekit.uploads import is_raw_media
from services.fusion.settings import FusionSettings

ROOT = Path(__file__).resolve().parents[3]
REGISTRIES = {"text": "services.text.backends:REGISTRY", "vision": "services.vision.backends:REGISTRY",
              "audio": "services.audio.backends:REGISTRY"}


def test_each_modality_has_one_encoder_that_says_it_serves_it() -> None:
    assert set(MODALITY_SPECS) == set(MODALITIES)
    for modality in MODALITIES:
        assert service_of(modality).modality == modality
        assert modality_of(SERVICE_OF[modality]) == modality
    assert [SERVICES[name].modality for name in ENCODERS] == list(MODALITIES)
    assert modality_of("fusion") is None and modality_of("gateway") is None


def test_callers_reach_every_service_the_catalog_names_at_its_default_port() -> None:
    gateway_urls = GatewaySettings().upstream_urls()
    assert tuple(gateway_urls) == UPSTREAMS
    assert tuple(FusionSettings().upstream_urls()) == ENCODERS
    for name, url in gateway_urls.items():
        assert url == SERVICES[name].default_url


def test_the_local_stack_runs_every_service() -> None:
    procfile = (ROOT / "Procfile").read_text()
    served = set(re.findall(r"python -m servekit\.serve (\w+)", procfile))
    assert served == set(SERVICES)


@pytest.mark.parametrize("service", sorted(REGISTRIES))
def test_backends_serve_only_tasks_their_service_declares(service: str) -> None:
    registry: dict[str, str] = import_object(REGISTRIES[service])
    assert set(registry) and SERVICES[service].tasks
    for key, path in registry.items():
        backend: type[ModelBackend] = import_object(path)
        assert backend.tasks <= set(SERVICES[service].tasks), f"{service} backend {key}: {sorted(backend.tasks)}"


def test_routes_map_to_the_service_answering_them() -> None:
    assert upstream_of_route("/v1/images/captions") == "vision"
    assert upstream_of_route("/v1/audio/transcriptions") == "audio"
    assert upstream_of_route("/v1/classifications") == "fusion"
    assert upstream_of_route("/v1/imagesque") is None
    assert upstream_of_route("/v1/embeddings") is None  # depends on the body's modality


@pytest.mark.parametrize(("mimetype", "modality", "accepted"), [
    ("image/png", "image", True), ("IMAGE/JPEG", "image", True), ("audio/png", "image", False),
    ("audio/wav", "audio", True), ("video/x-matroska", "audio", True), ("video/webm", "audio", True),
    ("video/x-matroska", "image", False), ("text/plain", "audio", False),
])
def test_raw_bodies_are_recognised_from_the_catalog(mimetype: str, modality: str, accepted: bool) -> None:
    with Flask(__name__).test_request_context(data=b"x", content_type=mimetype):
        assert is_raw_media(modality) is accepted  # type: ignore[arg-type]
