"""A job submission is validated as its route would validate it, before it is queued: a request the route would
refuse gets the same 400/415 at once (not a job that fails later), and the OpenAPI document can give job routes
the same request schemas as their synchronous routes.

Each check uses the route's own models, which import without the models' heavy dependencies: the gateway's
``EmbeddingsRequest``, the audio service's intake, the fusion service's ``UpsertItems`` and collection-name
rule. What needs the models themselves (an unknown model name, an undecodable recording) is found when the job
runs, and the job ends ``failed`` with the route's error.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import current_app

from gateway.routes.embeddings import EmbeddingsRequest, _inputs
from gateway.settings import GatewaySettings
from servekit.errors import InvalidInput
from servekit.validation import parse_json

# Prompts are bounded by the audio service's AUDIO_MAX_PROMPT_CHARS when the job runs; here only their type.
UNBOUNDED_PROMPT = 1 << 30


def _settings() -> GatewaySettings:
    settings: GatewaySettings = current_app.extensions["settings"]
    return settings


def _embeddings(_: str) -> None:
    _inputs(parse_json(EmbeddingsRequest), _settings().max_embedding_inputs)


def _transcription(_: str) -> None:
    from services.audio.intake import read_upload

    read_upload(max_bytes=_settings().job_max_body_bytes, max_prompt_chars=UNBOUNDED_PROMPT)


def _collection_items(target: str) -> None:
    from services.fusion.schemas import COLLECTION_NAME, UpsertItems

    name = target.split("/")[3]
    if not re.match(COLLECTION_NAME, name):
        raise InvalidInput("collection names are 1-63 lower-case letters, digits and single underscores",
                           param="name", code="invalid_collection_name")
    parse_json(UpsertItems)


CHECKS: dict[str, Callable[[str], None]] = {
    "/v1/embeddings": _embeddings,
    "/v1/audio/transcriptions": _transcription,
    "/v1/collections/<name>/items": _collection_items,
}


def check_submission(rule: str, target: str) -> None:
    """Refuse, as route ``rule`` would, a submission for ``target`` (the concrete path) it would refuse."""
    check = CHECKS.get(rule)
    if check is not None:
        check(target)
