"""How the text service reads an embed request: JSON ``input`` strings, each non-empty and bounded."""

from __future__ import annotations

from servekit.app import current_settings
from servekit.embeddings import EmbedRequest
from servekit.errors import InvalidInput
from servekit.routes import EmbedCall
from servekit.validation import check_item_count, is_blank, parse_json
from services.text.settings import TextSettings


def check_texts(texts: list[str], settings: TextSettings) -> None:
    """400 for too many, empty or over-long texts, naming the input."""
    check_item_count(len(texts), settings.max_items_per_request)
    for index, text in enumerate(texts):
        if is_blank(text):
            raise InvalidInput(f"input[{index}] is empty", param=f"input[{index}]", code="empty_input")
        if len(text) > settings.max_chars_per_item:
            raise InvalidInput(f"input[{index}] is longer than {settings.max_chars_per_item} characters",
                               param=f"input[{index}]", code="input_too_long")


def read_embed() -> EmbedCall:
    """The texts are the model's items as they are."""
    request = parse_json(EmbedRequest)
    check_texts(request.input, current_settings(TextSettings))
    return EmbedCall(request, lambda backend: request.input)
