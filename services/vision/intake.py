"""How images arrive: multipart ``file`` parts, a raw ``image/*`` body, or base64 / data-URI / URL strings in JSON.

Whatever the form, a request becomes the same :class:`ImageRequest`: one source per input, in order, plus the
other fields for the endpoint's own parameter model. Only once those parameters are valid are the sources
fetched and decoded, each into an image or the 4xx that image earned: a bad image fails alone, and only a
malformed request as a whole is refused outright. Strings are never read as server file paths: they are
base64, a data URI, or (when enabled) an http(s) URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import request
from PIL import Image

from servekit.codecs import decode_base64_payload
from servekit.embeddings import EmbedParams
from servekit.errors import ApiError, InvalidInput
from servekit.routes import EmbedCall
from servekit.slots import AppSlot
from servekit.uploads import (
    field_values,
    is_multipart,
    is_raw_media,
    raw_body,
    unsupported_media,
    uploaded_files,
)
from servekit.validation import M, check_item_count, parse_model, require_json
from services.vision.fetch import UrlFetcher, looks_like_url
from services.vision.imaging import ImageLimits, decode_image
from services.vision.items import ImageItem

ImageOrError = Image.Image | ApiError


@dataclass(frozen=True)
class Source:
    """One input as received: bytes, a URL to fetch, or the error it already earned; ``param`` names it."""

    param: str
    data: bytes = b""
    url: str | None = None
    error: ApiError | None = None


@dataclass
class ImageRequest:
    """The inputs of one request, in order, and its remaining parameters (not yet validated)."""

    sources: list[Source]
    params: dict[str, Any] = field(default_factory=dict)
    typed: bool = False  # the parameters came as JSON (typed: "3" is not 3), not as form or query strings

    def parse_params(self, model: type[M]) -> M:
        """The parameters validated by ``model``; strictly when they came as JSON."""
        return parse_model(model, self.params, strict=self.typed)


class ImageIntake:
    """Reads the current Flask request into an :class:`ImageRequest` under the service's limits."""

    def __init__(self, limits: ImageLimits, fetcher: UrlFetcher, max_items: int) -> None:
        self.limits = limits
        self.fetcher = fetcher
        self.max_items = max_items

    def read(self) -> ImageRequest:
        if is_multipart():
            return self._from_multipart()
        if request.is_json:
            return self._from_json()
        if is_raw_media("image"):
            return ImageRequest([Source("body", raw_body())], field_values(request.args))
        raise unsupported_media("image", "input")

    # -- the request forms ----------------------------------------------------------------------------
    def _from_multipart(self) -> ImageRequest:
        parts = uploaded_files()
        self._check_count(len(parts), "file")
        sources = [Source(f"file[{index}]", part.read()) for index, part in enumerate(parts)]
        return ImageRequest(sources, field_values(request.form))

    def _from_json(self) -> ImageRequest:
        body = require_json()
        if not isinstance(body, dict):
            raise InvalidInput("JSON body must be an object with an 'input' field", code="invalid_request")
        params = dict(body)
        inputs = params.pop("input", None)
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            raise InvalidInput("'input' must be a non-empty string or list of strings (base64 or data URIs)",
                               param="input", code="missing_input")
        self._check_count(len(inputs), "input")
        for index, value in enumerate(inputs):
            if not isinstance(value, str):
                raise InvalidInput(f"input[{index}] must be a string", param=f"input[{index}]",
                                   code="invalid_input")
        sources = [self._source(value, f"input[{index}]") for index, value in enumerate(inputs)]
        return ImageRequest(sources, params, typed=True)

    # -- one item ------------------------------------------------------------------------------------
    def _check_count(self, count: int, param: str) -> None:
        check_item_count(count, self.max_items, param=param)

    def decode(self, sources: Sequence[Source]) -> list[ImageOrError]:
        """Fetch and decode every source; a source that fails keeps its error in its slot."""
        return [self._decode_one(source) for source in sources]

    def _source(self, value: str, param: str) -> Source:
        if looks_like_url(value):
            return Source(param, url=value.strip())
        try:
            data, _mime = decode_base64_payload(value, max_bytes=self.limits.max_bytes, param=param)
        except ApiError as error:
            return Source(param, error=error)
        return Source(param, data)

    def _decode_one(self, source: Source) -> ImageOrError:
        try:
            if source.error is not None:
                return source.error
            data = self.fetcher.fetch(source.url, param=source.param) if source.url else source.data
            return decode_image(data, self.limits, param=source.param)
        except ApiError as error:
            return error


IMAGE_INTAKE: AppSlot[ImageIntake] = AppSlot("image_intake")


def read_embed() -> EmbedCall:
    """Images in any of the three request forms; each decoded one is an item, a bad one fails the request."""
    request = IMAGE_INTAKE.current().read()
    params = request.parse_params(EmbedParams)
    return EmbedCall(params, lambda backend: [image if isinstance(image, ApiError) else ImageItem(image)
                                              for image in IMAGE_INTAKE.current().decode(request.sources)])
