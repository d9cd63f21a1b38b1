"""``Polyserve``: one typed method per public route of the gateway, over a pooled ``requests`` session.

Answers are the API's JSON documents (dicts), as the OpenAPI document at ``/openapi.json`` describes them.
429 and 503 answers are retried after their ``Retry-After`` (bounded by ``max_retries``); every other error,
and the last retried one, raises :class:`PolyserveError` with the API's ``code``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, overload
from urllib.parse import quote

import requests

from polyserve_client.errors import PolyserveError, error_from, retry_after_s
from polyserve_client.files import FileLike, load
from polyserve_client.jobs import Job
from polyserve_client.sse import stream_events

RETRIED_STATUSES = frozenset({429, 503})
DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"


def _seg(value: str) -> str:
    return quote(value, safe="")


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _items_body(items: Sequence[dict[str, Any]], allow_degraded: bool) -> dict[str, Any]:
    return {"items": list(items), "allow_degraded": allow_degraded}


def _as_list(files: FileLike | Sequence[FileLike]) -> list[FileLike]:
    return [files] if isinstance(files, str | bytes | Path) else list(files)


def chat_message(text: str, images: Sequence[FileLike] = (), *, role: str = "user") -> dict[str, Any]:
    """One chat message: the text alone, or the images (as data URIs) followed by the text."""
    if not images:
        return {"role": role, "content": text}
    parts = [{"type": "image_url", "image_url": {"url": load(image).data_uri()}} for image in images]
    return {"role": role, "content": [*parts, {"type": "text", "text": text}]}


class Polyserve:
    """A client of one gateway. ``base_url`` and ``api_key`` default to ``POLYSERVE_URL`` / ``POLYSERVE_API_KEY``."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *, timeout_s: float = 120.0,
                 max_retries: int = 4, max_retry_wait_s: float = 30.0, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = (base_url or os.environ.get("POLYSERVE_URL") or DEFAULT_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("POLYSERVE_API_KEY")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_retry_wait_s = max_retry_wait_s
        self.session = session or requests.Session()
        self._sleep = sleep

    # -- transport -----------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request, retrying 429/503 after Retry-After (exponential backoff when it is absent)."""
        headers = {**kwargs.pop("headers", {})}
        timeout = kwargs.pop("timeout", self.timeout_s)
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.max_retries + 1):
            response = self.session.request(method, self.base_url + path, headers=headers,
                                            timeout=timeout, **kwargs)
            if response.status_code < 400:
                return response
            if response.status_code not in RETRIED_STATUSES or attempt == self.max_retries:
                raise error_from(response)
            wait = retry_after_s(response)
            self._sleep(min(self.max_retry_wait_s, wait if wait is not None else 0.5 * 2**attempt))
        raise PolyserveError(0, "unreachable", "retry loop ended")  # pragma: no cover - the loop always returns

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def _media_post(self, path: str, files: FileLike | Sequence[FileLike], fields: dict[str, Any]) -> Any:
        parts = [("file", load(file).part()) for file in _as_list(files)]
        return self._json("POST", path, files=parts, data=_drop_none(fields))

    # -- service -------------------------------------------------------------------------------------------------
    def healthy(self) -> bool:
        return self.session.get(self.base_url + "/healthz", timeout=self.timeout_s).status_code == 200

    def ready(self) -> bool:
        return self.session.get(self.base_url + "/readyz", timeout=self.timeout_s).status_code == 200

    def openapi(self) -> dict[str, Any]:
        document: dict[str, Any] = self._json("GET", "/openapi.json")
        return document

    # -- models and embeddings (OpenAI-compatible) ---------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._json("GET", "/v1/models")["data"]
        return data

    def model(self, model_id: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/v1/models/{_seg(model_id)}"))

    def default_model(self, modality: str, task: str = "embed") -> str:
        """The first model of a modality that serves a task (what the gateway itself would pick)."""
        for model in self.models():
            if model.get("modality") == modality and task in (model.get("tasks") or [task]):
                return str(model["id"])
        raise PolyserveError(404, "model_not_found", f"no {modality} model serves {task!r}")

    def embeddings(self, input: str | Sequence[str], *, model: str = DEFAULT_TEXT_MODEL, modality: str | None = None,
                   dimensions: int | None = None, encoding_format: str | None = None) -> dict[str, Any]:
        """``POST /v1/embeddings``; images and audio go as base64 (see :meth:`embed_files`)."""
        body = _drop_none({"model": model, "input": input if isinstance(input, str) else list(input),
                           "modality": modality, "dimensions": dimensions, "encoding_format": encoding_format})
        return dict(self._json("POST", "/v1/embeddings", json=body))

    def embed_files(self, files: Sequence[FileLike], *, modality: str, model: str | None = None) -> dict[str, Any]:
        """Embeddings of image or audio files (read, base64-encoded, sent as one request)."""
        chosen = model or self.default_model(modality)
        return self.embeddings([load(file).b64() for file in files], model=chosen, modality=modality)

    # -- images --------------------------------------------------------------------------------------------------
    def classify(self, images: FileLike | Sequence[FileLike], *, top_k: int | None = None,
                 model: str | None = None) -> dict[str, Any]:
        return dict(self._media_post("/v1/images/classifications", images, {"top_k": top_k, "model": model}))

    def caption(self, images: FileLike | Sequence[FileLike], *, model: str | None = None,
                max_new_tokens: int | None = None, num_beams: int | None = None) -> dict[str, Any]:
        fields = {"model": model, "max_new_tokens": max_new_tokens, "num_beams": num_beams}
        return dict(self._media_post("/v1/images/captions", images, fields))

    def ocr(self, images: FileLike | Sequence[FileLike], *, model: str | None = None) -> dict[str, Any]:
        return dict(self._media_post("/v1/images/ocr", images, {"model": model}))

    def ask(self, images: FileLike | Sequence[FileLike], question: str, *, model: str | None = None,
            max_new_tokens: int | None = None) -> dict[str, Any]:
        """``POST /v1/images/questions``: one short answer per image (``data[i].answer`` or ``data[i].error``)."""
        fields = {"question": question, "model": model, "max_new_tokens": max_new_tokens}
        return dict(self._media_post("/v1/images/questions", images, fields))

    # -- chat (OpenAI-compatible) --------------------------------------------------------------------------------
    @overload
    def chat(self, messages: Sequence[dict[str, Any]], *, model: str, stream: Literal[False] = False,
             **options: Any) -> dict[str, Any]: ...

    @overload
    def chat(self, messages: Sequence[dict[str, Any]], *, model: str, stream: Literal[True],
             **options: Any) -> Iterator[dict[str, Any]]: ...

    def chat(self, messages: Sequence[dict[str, Any]], *, model: str, stream: bool = False,
             **options: Any) -> dict[str, Any] | Iterator[dict[str, Any]]:
        """``POST /v1/chat/completions``; ``options`` are OpenAI's fields (``max_tokens``, ``temperature``...).

        Streamed, the answer is an iterator of ``chat.completion.chunk`` dicts, ending at ``[DONE]``; leaving the
        loop early closes the connection, which stops the generation."""
        body = {**options, "model": model, "messages": list(messages), "stream": stream}
        if not stream:
            return dict(self._json("POST", "/v1/chat/completions", json=body))
        return stream_events(self.request("POST", "/v1/chat/completions", json=body, stream=True))

    # -- audio ---------------------------------------------------------------------------------------------------
    def _transcription_fields(self, response_format: str, language: str | None, prompt: str | None,
                              model: str | None, timestamps: Sequence[str]) -> list[tuple[str, str]]:
        fields = _drop_none({"response_format": response_format, "language": language, "prompt": prompt,
                             "model": model})
        return [*fields.items(), *(("timestamp_granularities[]", value) for value in timestamps)]

    def transcribe(self, file: FileLike, *, response_format: str = "verbose_json", language: str | None = None,
                   prompt: str | None = None, model: str | None = None,
                   timestamp_granularities: Sequence[str] = ("segment",)) -> dict[str, Any] | str:
        """``POST /v1/audio/transcriptions``: a dict for the JSON formats, the text for text, srt and vtt."""
        fields = self._transcription_fields(response_format, language, prompt, model, timestamp_granularities)
        response = self.request("POST", "/v1/audio/transcriptions", files=[("file", load(file).part())], data=fields)
        return dict(response.json()) if response_format in {"json", "verbose_json"} else response.text

    def transcribe_stream(self, file: FileLike, *, language: str | None = None, prompt: str | None = None,
                          model: str | None = None) -> Iterator[dict[str, Any]]:
        """``stream=true``: ``transcript.text.delta`` events as segments are decoded, then ``transcript.text.done``."""
        fields = [*self._transcription_fields("json", language, prompt, model, ()), ("stream", "true")]
        response = self.request("POST", "/v1/audio/transcriptions", files=[("file", load(file).part())], data=fields,
                                stream=True)
        return stream_events(response)

    def submit_transcription(self, file: FileLike, *, response_format: str = "verbose_json",
                             language: str | None = None, model: str | None = None,
                             timestamp_granularities: Sequence[str] = ("segment",)) -> Job:
        """The same request as :meth:`transcribe`, run as a job (long recordings)."""
        fields = self._transcription_fields(response_format, language, None, model, timestamp_granularities)
        doc = self._json("POST", "/v1/jobs/audio/transcriptions", files=[("file", load(file).part())], data=fields)
        return Job(self, doc)

    # -- retrieval -----------------------------------------------------------------------------------------------
    def rerank(self, query: str, documents: Sequence[str | dict[str, Any]], *, model: str | None = None,
               top_n: int | None = None, return_documents: bool | None = None) -> dict[str, Any]:
        """``POST /v1/rerank`` (Cohere shape): ``results`` best first, each with ``index`` and ``relevance_score``."""
        body = _drop_none({"query": query, "documents": list(documents), "model": model, "top_n": top_n,
                           "return_documents": return_documents})
        return dict(self._json("POST", "/v1/rerank", json=body))

    # -- fusion and collections ----------------------------------------------------------------------------------
    def fuse(self, **body: Any) -> dict[str, Any]:
        """``POST /v1/fuse`` with the body of the API (``input``, ``strategy``, ``weights``, ``scores``...)."""
        return dict(self._json("POST", "/v1/fuse", json=body))

    def zero_shot(self, **body: Any) -> dict[str, Any]:
        """``POST /v1/classifications`` (zero-shot classification across modalities)."""
        return dict(self._json("POST", "/v1/classifications", json=body))

    def create_collection(self, name: str, description: str | None = None) -> dict[str, Any]:
        body = _drop_none({"name": name, "description": description})
        return dict(self._json("POST", "/v1/collections", json=body))

    def collections(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._json("GET", "/v1/collections")["data"]
        return data

    def collection(self, name: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/v1/collections/{_seg(name)}"))

    def delete_collection(self, name: str) -> dict[str, Any]:
        return dict(self._json("DELETE", f"/v1/collections/{_seg(name)}"))

    def upsert_items(self, name: str, items: Sequence[dict[str, Any]], *,
                     allow_degraded: bool = False) -> dict[str, Any]:
        """Idempotent by id; one result per item, a bad item carrying its own ``error``."""
        body = _items_body(items, allow_degraded)
        return dict(self._json("POST", f"/v1/collections/{_seg(name)}/items", json=body))

    def items(self, name: str, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        params = {"limit": limit, "offset": offset}
        data: list[dict[str, Any]] = self._json("GET", f"/v1/collections/{_seg(name)}/items", params=params)["data"]
        return data

    def item(self, name: str, item_id: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/v1/collections/{_seg(name)}/items/{_seg(item_id)}"))

    def delete_item(self, name: str, item_id: str) -> dict[str, Any]:
        return dict(self._json("DELETE", f"/v1/collections/{_seg(name)}/items/{_seg(item_id)}"))

    def start_ingest(self, name: str, items: Sequence[dict[str, Any]], *,
                     allow_degraded: bool = False) -> dict[str, Any]:
        body = _items_body(items, allow_degraded)
        return dict(self._json("POST", f"/v1/collections/{_seg(name)}/ingest", json=body))

    def ingest_job(self, name: str, job_id: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/v1/collections/{_seg(name)}/ingest/{_seg(job_id)}"))

    def search(self, name: str, *, text: str | None = None, image: FileLike | None = None,
               audio: FileLike | None = None, top_k: int = 10, strategy: str | None = None,
               method: str | None = None, weights: dict[str, float] | None = None, head: str | None = None,
               filter: dict[str, Any] | None = None, allow_degraded: bool | None = None) -> dict[str, Any]:
        """Search by text, image, audio or a mix; files are sent as base64."""
        query = _drop_none({"text": text, "image": load(image).b64() if image is not None else None,
                            "audio": load(audio).b64() if audio is not None else None})
        body = _drop_none({"query": query, "top_k": top_k, "strategy": strategy, "method": method,
                           "weights": weights, "head": head, "filter": filter, "allow_degraded": allow_degraded})
        return dict(self._json("POST", f"/v1/collections/{_seg(name)}/search", json=body))

    def fusion_heads(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._json("GET", "/v1/fusion/heads")["data"]
        return data

    def train_fusion_head(self, **body: Any) -> dict[str, Any]:
        return dict(self._json("POST", "/v1/fusion/heads", json=body))

    def fusion_head(self, reference: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/v1/fusion/heads/{_seg(reference)}"))

    # -- jobs ----------------------------------------------------------------------------------------------------
    def submit_embeddings(self, input: str | Sequence[str], *, model: str = DEFAULT_TEXT_MODEL,
                          modality: str | None = None) -> Job:
        body = _drop_none({"model": model, "input": input if isinstance(input, str) else list(input),
                           "modality": modality})
        return Job(self, self._json("POST", "/v1/jobs/embeddings", json=body))

    def submit_items(self, name: str, items: Sequence[dict[str, Any]], *, allow_degraded: bool = False) -> Job:
        body = _items_body(items, allow_degraded)
        return Job(self, self._json("POST", f"/v1/jobs/collections/{_seg(name)}/items", json=body))

    def job(self, job_id: str) -> Job:
        return Job(self, self._json("GET", f"/v1/jobs/{_seg(job_id)}"))

    def job_result(self, job_id: str) -> requests.Response:
        """The target route's answer as it gave it (JSON, text, SRT or VTT)."""
        return self.request("GET", f"/v1/jobs/{_seg(job_id)}/result")

    def cancel_job(self, job_id: str) -> Job:
        return Job(self, self._json("DELETE", f"/v1/jobs/{_seg(job_id)}"))

    # -- admin ---------------------------------------------------------------------------------------------------
    def clear_cache(self) -> dict[str, Any]:
        return dict(self._json("DELETE", "/v1/admin/cache"))
