"""The one declaration of every deployable and every modality; everything else derives from it.

``python -m servekit.serve NAME``, the gateway's upstream clients and modality maps, the result cache's route
map, fusion's encoder clients, the local stack, the test support and the deployment consistency checks all read
these tables. Adding a modality starts here (see ARCHITECTURE.md, "How to add a modality").
Importing this module imports nothing heavy: settings classes and app factories are named by import path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

# The kinds of input an encoder turns into vectors. Public API field values (``"modality": "image"``).
Modality = Literal["text", "image", "audio"]
MODALITIES: tuple[Modality, ...] = get_args(Modality)

# The deployables; ``python -m servekit.serve NAME`` runs one.
ServiceName = Literal["text", "vision", "audio", "fusion", "gateway"]


@dataclass(frozen=True)
class ModalitySpec:
    """One modality: the encoder service that serves it and the raw bodies (``Content-Type``) it reads."""

    name: Modality
    service: ServiceName
    # Raw request bodies of this modality: a media-type family (``image/``) plus single types registered elsewhere.
    raw_media_family: str | None = None
    raw_media_types: frozenset[str] = frozenset()

    def accepts_raw(self, mimetype: str) -> bool:
        """Whether a raw body of this ``Content-Type`` (without parameters) carries this modality."""
        mimetype = mimetype.lower()
        if self.raw_media_family and mimetype.startswith(self.raw_media_family):
            return True
        return mimetype in self.raw_media_types


@dataclass(frozen=True)
class ServiceSpec:
    """One deployable: where it listens by default, how it is configured and built, what it serves."""

    name: ServiceName
    port: int
    settings: str  # "module:Class", a ServiceSettings subclass
    app: str  # "module:function", the app factory taking the settings
    summary: str
    modality: Modality | None = None  # the modality it encodes, for the encoders
    tasks: tuple[str, ...] = ()  # model tasks its backends may serve
    # Public gateway routes (path prefixes) answered by this service: their cache keys carry its model version.
    public_routes: tuple[str, ...] = ()

    @property
    def env_prefix(self) -> str:
        """Prefix of the service's environment variables (``TEXT_``)."""
        return f"{self.name.upper()}_"

    @property
    def default_url(self) -> str:
        """Where the local stack reaches it."""
        return f"http://127.0.0.1:{self.port}"


MODALITY_SPECS: dict[Modality, ModalitySpec] = {
    "text": ModalitySpec("text", "text"),
    "image": ModalitySpec("image", "vision", raw_media_family="image/"),
    # Containers FFmpeg reads whose media types are registered outside audio/*.
    "audio": ModalitySpec("audio", "audio", raw_media_family="audio/", raw_media_types=frozenset({
        "application/ogg", "application/octet-stream", "video/webm", "video/mp4", "video/ogg", "video/x-matroska"})),
}

SERVICES: dict[str, ServiceSpec] = {
    "text": ServiceSpec("text", 8001, "services.text.settings:TextSettings", "services.text.app:create_app",
                        "text encoder: embeddings, reranking", modality="text", tasks=("embed", "rerank"),
                        public_routes=("/v1/rerank",)),
    "vision": ServiceSpec("vision", 8002, "services.vision.settings:VisionSettings", "services.vision.app:create_app",
                          "vision encoder: labels, OCR, captions, answers, chat, embeddings", modality="image",
                          tasks=("embed", "classify", "caption", "ocr", "answer", "chat"),
                          public_routes=("/v1/images", "/v1/chat")),
    "audio": ServiceSpec("audio", 8003, "services.audio.settings:AudioSettings", "services.audio.app:create_app",
                         "audio encoder: speech recognition, embeddings", modality="audio",
                         tasks=("transcribe", "embed"), public_routes=("/v1/audio",)),
    "fusion": ServiceSpec("fusion", 8004, "services.fusion.settings:FusionSettings", "services.fusion.app:create_app",
                          "fusion: strategies, retrieval, classification, learned heads",
                          public_routes=("/v1/fuse", "/v1/classifications")),
    "gateway": ServiceSpec("gateway", 8080, "gateway.settings:GatewaySettings", "gateway.app:create_app",
                           "the public API"),
}

# The encoder service of each modality; the encoder services, in modality order; the services the gateway calls.
SERVICE_OF: dict[str, str] = {name: spec.service for name, spec in MODALITY_SPECS.items()}
ENCODERS: tuple[str, ...] = tuple(SERVICE_OF[m] for m in MODALITIES)
UPSTREAMS: tuple[str, ...] = tuple(name for name in SERVICES if name != "gateway")


def service_of(modality: Modality) -> ServiceSpec:
    """The encoder service of a modality."""
    return SERVICES[MODALITY_SPECS[modality].service]


def modality_of(service: str) -> Modality | None:
    """The modality an encoder service serves; None for fusion and the gateway."""
    spec = SERVICES.get(service)
    return spec.modality if spec is not None else None


def upstream_of_route(path: str) -> str | None:
    """The service that answers a public route, by the catalog's route prefixes."""
    for spec in SERVICES.values():
        if any(path == prefix or path.startswith(prefix + "/") for prefix in spec.public_routes):
            return spec.name
    return None
