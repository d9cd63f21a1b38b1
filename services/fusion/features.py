"""Inputs of any modality turned into vectors by the encoder services, in parallel, with bridging.

Per modality the vectors are keyed by embedding space. An image gets its own vector (vision ``/v1/embed``); when
that space is not shared with a text model, it is also bridged into the text space: top labels, caption and OCR
text -> one text -> the text vector. Audio likewise: its own vector, and transcript -> text vector. With a
joint model configured (CLIP, CLAP: a text model serving the same space) the joint vector is used directly.
All calls of all items run at once (stage 1), then the bridge texts are embedded together (stage 2); each call
is bounded by the request's remaining deadline, so timeouts never add up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from servekit.catalog import SERVICE_OF
from servekit.client import CallContext
from servekit.errors import ApiError, UnprocessableInput
from servekit.fanout import fan_out
from services.fusion.encoders import Embedded, Encoders, ModelInfo, modality_unavailable
from services.fusion.inputs import Inputs
from services.fusion.scoring import preferred_spaces
from services.fusion.strategies import normalise

log = logging.getLogger(__name__)
Call = Callable[[CallContext], Any]


@dataclass
class Extraction:
    """The vectors of one input (modality -> space -> unit vector) and how each was obtained."""

    features: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    paths: list[dict[str, Any]] = field(default_factory=list)
    derived: dict[str, str] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def add(self, modality: str, embedded: Embedded, path: str) -> None:
        """Record a vector; a modality's spaces stay in order of preference (joint, text, own space)."""
        self.paths.append({"modality": modality, "space": embedded.space, "path": path, "model": embedded.model})
        spaces = {**self.features.get(modality, {}), embedded.space: normalise(embedded.vector)}
        order = preferred_spaces([p for p in self.paths if p["modality"] == modality])
        self.features[modality] = {space: spaces[space] for space in order if space in spaces}

    def skip(self, modality: str, error: ApiError, path: str | None = None) -> None:
        """Record what a degraded answer went without: a whole modality, or one path of it."""
        entry = {"modality": modality, "code": error.code, "message": error.message}
        self.skipped.append({**entry, "path": path} if path else entry)

    @property
    def degraded(self) -> bool:
        return bool(self.skipped)


class AnswerKey(NamedTuple):
    """Names one encoder answer about an input.

    For image and audio, ``what`` is the task that produced it (embed, classify, ocr, caption, transcribe).
    For text, it is :data:`BRIDGE` (the text's vector from the bridge text model) or the model id of a joint
    space's text tower (CLIP, CLAP) that embeds the text as well. Bridge vectors of image and audio inputs
    (their labels, OCR, caption or transcript, embedded as text) are keyed ``(modality, BRIDGE)``.
    """

    modality: str
    what: str


BRIDGE = "bridge"


@dataclass
class _Plan:
    """Which encoder calls each modality needs, decided from the encoders' model lists."""

    bridge_model: str | None
    joint_text: list[ModelInfo] = field(default_factory=list)
    image: dict[str, ModelInfo] = field(default_factory=dict)
    audio: dict[str, ModelInfo] = field(default_factory=dict)
    joint: dict[str, bool] = field(default_factory=dict)
    unavailable: dict[str, ApiError] = field(default_factory=dict)


def _is_client_error(error: Exception) -> bool:
    return isinstance(error, ApiError) and error.status < 500


def _as_api_error(error: Exception) -> ApiError:
    if isinstance(error, ApiError):
        return error
    log.error("encoder call failed", exc_info=error)
    return ApiError("an encoder call failed")


def _renamed(error: ApiError, modality: str) -> ApiError:
    """An encoder's complaint about ``input[0]`` is about the request's ``modality`` field."""
    error.param = modality
    error.message = error.message.replace("input[0]: ", "")
    return error


def ocr_text(answer: dict[str, Any], min_confidence: float) -> str:
    """The confident OCR lines of more than one character (stray marks on photos are dropped)."""
    lines = answer["data"][0].get("lines") or []
    kept = [str(line["text"]).strip() for line in lines
            if float(line.get("confidence", 1.0)) >= min_confidence and len(str(line["text"]).strip()) > 1]
    return " ".join(kept)


def bridge_text(answers: dict[str, Any], labels: int, min_ocr_confidence: float) -> str:
    """Image -> text: top labels, then caption, then OCR text (whatever the vision service gave)."""
    parts: list[str] = []
    classified = answers.get("classify")
    if isinstance(classified, dict):
        names = [str(entry["label"]) for entry in classified["data"][0].get("labels", [])[:labels]]
        if names:
            parts.append(", ".join(names))
    caption = answers.get("caption")
    if isinstance(caption, dict):
        parts.append(str(caption["data"][0].get("caption") or "").strip())
    ocr = answers.get("ocr")
    if isinstance(ocr, dict):
        parts.append(ocr_text(ocr, min_ocr_confidence))
    return ". ".join(part for part in parts if part)


Slot = tuple[int, AnswerKey]  # (input index, answer key)


class TextChunks:
    """Texts to embed, grouped by model into ``/v1/embed`` calls of up to ``size`` inputs each.

    One call per chunk instead of one per text saves HTTP round trips; a chunk refused for one bad text (4xx)
    is retried text by text, so that the bad one fails alone."""

    def __init__(self, encoders: Encoders, size: int) -> None:
        self.encoders = encoders
        self.size = size
        self._by_model: dict[str | None, list[tuple[Slot, str]]] = {}

    def add(self, slot: Slot, text: str, model: str | None) -> None:
        self._by_model.setdefault(model, []).append((slot, text))

    def calls(self) -> list[tuple[list[Slot], Call]]:
        chunks = []
        for model, entries in self._by_model.items():
            for start in range(0, len(entries), self.size):
                chunk = entries[start:start + self.size]
                chunks.append(([slot for slot, _ in chunk], self._call([text for _, text in chunk], model)))
        return chunks

    def _call(self, texts: list[str], model: str | None) -> Call:
        def run(context: CallContext) -> list[Embedded | Exception]:
            try:
                return list(self.encoders.embed_many("text", texts, context, model))
            except ApiError as error:
                if error.status >= 500 or len(texts) == 1:
                    return [error] * len(texts)
            return [self._one(text, model, context) for text in texts]

        return run

    def _one(self, text: str, model: str | None, context: CallContext) -> Embedded | Exception:
        try:
            return self.encoders.embed("text", text, context, model)
        except ApiError as error:
            return error

    @staticmethod
    def spread(chunks: list[tuple[list[Slot], Call]], results: Sequence[Any]) -> list[tuple[Slot, Any]]:
        """Each slot with its own result (a chunk that raised gives its exception to every slot)."""
        spread: list[tuple[Slot, Any]] = []
        for (slots, _), result in zip(chunks, results, strict=True):
            values = result if isinstance(result, list) else [result] * len(slots)
            spread.extend(zip(slots, values, strict=True))
        return spread


class FeatureExtractor:
    """Runs the encoder calls of many inputs at once and assembles one :class:`Extraction` per input."""

    def __init__(self, encoders: Encoders, executor: Executor) -> None:
        self.encoders = encoders
        self.settings = encoders.settings
        self.executor = executor

    # ---- planning ----------------------------------------------------------------------------------

    def _plan(self, needed: set[str], want_spaces: set[str]) -> _Plan:
        """Decide, once per request, which encoder calls its inputs need, from the encoders' model lists.

        Text always goes through the bridge text model (``FUSION_TEXT_MODEL``, else the first text embedder) and
        through every text tower of a space the request's image or audio models (or ``want_spaces``, a
        collection's spaces) live in. An image or audio input gets its own vector, plus, unless that vector's
        space has a text tower, the bridge tasks whose text is embedded as well (labels/OCR/caption; the
        transcript). A modality whose service cannot list its models is marked unavailable.
        """
        plan = _Plan(bridge_model=self.settings.text_model)
        services = sorted({"text"} | {SERVICE_OF[m] for m in needed})
        catalogs = fan_out(self.executor, [self._catalog_call(s) for s in services])
        by_service = dict(zip(services, catalogs, strict=True))
        text_catalog = by_service["text"]
        for modality in ("image", "audio"):
            catalog = by_service.get(SERVICE_OF[modality])
            if modality not in needed:
                continue
            if isinstance(catalog, Exception):
                plan.unavailable[modality] = catalog if isinstance(catalog, ApiError) else \
                    modality_unavailable(modality, ApiError("catalog unreadable"))
                continue
            self._plan_modality(plan, modality, list(catalog or []), text_catalog)
        if not isinstance(text_catalog, Exception):
            embedders = [m for m in text_catalog if "embed" in m.tasks]
            bridge = next((m for m in embedders if m.id == plan.bridge_model), embedders[0] if embedders else None)
            plan.bridge_model = bridge.id if bridge else plan.bridge_model
            spaces = want_spaces | {m.space for tab in (plan.image, plan.audio) for m in tab.values() if m.space}
            plan.joint_text = [m for m in embedders if m.space in spaces and bridge is not None
                               and m.space != bridge.space]
        return plan

    def _catalog_call(self, service: str) -> Call:
        return lambda context: self.encoders.models(service, context)

    def _plan_modality(self, plan: _Plan, modality: str, catalog: list[ModelInfo], text_catalog: Any) -> None:
        """The calls one image / audio input needs: its own vector, and the bridge tasks unless joint."""
        tasks = ("embed", "classify", "ocr", "caption") if modality == "image" else ("embed", "transcribe")
        chosen = {task: next(m for m in catalog if task in m.tasks) for task in tasks
                  if any(task in m.tasks for m in catalog)}
        embed = chosen.get("embed")
        text_spaces = set() if isinstance(text_catalog, Exception) else \
            {m.space for m in text_catalog if "embed" in m.tasks}
        joint = embed is not None and embed.space in text_spaces
        plan.joint[modality] = joint
        if joint:
            chosen = {"embed": chosen["embed"]}
        else:
            if not self.settings.bridge_ocr:
                chosen.pop("ocr", None)
            if not self.settings.bridge_caption:
                chosen.pop("caption", None)
        if not chosen:
            plan.unavailable[modality] = modality_unavailable(
                modality, ApiError(f"the {SERVICE_OF[modality]} service serves no model for {modality} inputs"))
        setattr(plan, modality, chosen)

    # ---- stage 1 -----------------------------------------------------------------------------------

    def _stage_one(self, item: Inputs, plan: _Plan) -> dict[AnswerKey, Call]:
        """The image and audio calls of one input (texts are embedded in chunks, see :class:`TextChunks`)."""
        calls: dict[AnswerKey, Call] = {}
        for modality in ("image", "audio"):
            payload = getattr(item, modality)
            if payload is None or modality in plan.unavailable:
                continue
            for task, model in getattr(plan, modality).items():
                calls[AnswerKey(modality, task)] = self._task_call(modality, task, model, payload)
        return calls

    def _task_call(self, modality: str, task: str, model: ModelInfo, payload: str) -> Call:
        service = SERVICE_OF[modality]
        if task == "embed":
            return lambda ctx: self.encoders.embed(service, payload, ctx, model.id)
        if task == "transcribe":
            body: dict[str, Any] = {"model": model.id, "audio": payload, "response_format": "json"}
            return lambda ctx: self.encoders.call(service, "/v1/transcribe", body, ctx)
        body = {"model": model.id, "input": [payload]}
        return lambda ctx: self.encoders.call(service, f"/v1/{task}", body, ctx)

    # ---- assembly ----------------------------------------------------------------------------------

    def extract(self, items: Sequence[Inputs], *, allow_degraded: bool = False,
                want_spaces: set[str] | None = None) -> list[Extraction | ApiError]:
        """One extraction per input, or the error that input met (bad input, or a modality it needs down)."""
        needed = {m for item in items for m in item.modalities()}
        plan = self._plan(needed, want_spaces or set())
        texts = TextChunks(self.encoders, self.settings.text_batch_size)
        for index, item in enumerate(items):
            if item.text is not None:
                texts.add((index, AnswerKey("text", BRIDGE)), item.text, plan.bridge_model)
                for model in plan.joint_text:
                    texts.add((index, AnswerKey("text", model.id)), item.text, model.id)
        stage_one = [self._stage_one(item, plan) for item in items]
        flat = [(index, key, call) for index, calls in enumerate(stage_one) for key, call in calls.items()]
        chunks = texts.calls()
        results = fan_out(self.executor, [call for _, _, call in flat] + [call for _, call in chunks])
        answers: list[dict[AnswerKey, Any]] = [{} for _ in items]
        for (index, key, _), result in zip(flat, results[:len(flat)], strict=True):
            answers[index][key] = result
        for (index, key), result in TextChunks.spread(chunks, results[len(flat):]):
            answers[index][key] = result
        bridges = [self._bridge_texts(a) for a in answers]
        bridged = self._stage_two(bridges, plan)
        return [self._assemble(item, plan, answers[i], bridges[i], bridged[i], allow_degraded)
                for i, item in enumerate(items)]

    def _bridge_texts(self, answers: dict[AnswerKey, Any]) -> dict[str, str]:
        texts: dict[str, str] = {}
        image = {task: value for (m, task), value in answers.items() if m == "image"}
        if any(task in image for task in ("classify", "ocr", "caption")):
            text = bridge_text(image, self.settings.bridge_labels, self.settings.ocr_min_confidence)
            if text:
                texts["image"] = text
        transcript = answers.get(AnswerKey("audio", "transcribe"))
        if isinstance(transcript, dict) and str(transcript.get("text") or "").strip():
            texts["audio"] = str(transcript["text"]).strip()
        return texts

    def _stage_two(self, bridges: list[dict[str, str]], plan: _Plan) -> list[dict[str, Embedded | Exception]]:
        chunks = TextChunks(self.encoders, self.settings.text_batch_size)
        for index, texts in enumerate(bridges):
            for modality, text in texts.items():
                chunks.add((index, AnswerKey(modality, BRIDGE)), text, plan.bridge_model)
        calls = chunks.calls()
        results = fan_out(self.executor, [call for _, call in calls])
        bridged: list[dict[str, Embedded | Exception]] = [{} for _ in bridges]
        for (index, (modality, _)), result in TextChunks.spread(calls, results):
            bridged[index][modality] = result
        return bridged

    def _assemble(self, item: Inputs, plan: _Plan, answers: dict[AnswerKey, Any],
                  bridges: dict[str, str], bridged: dict[str, Embedded | Exception],
                  allow_degraded: bool) -> Extraction | ApiError:
        extraction = Extraction(derived=dict(bridges))
        failures: dict[str, ApiError] = {}
        for modality in item.modalities():
            error = self._collect(extraction, modality, plan, answers, bridged, allow_degraded)
            if error is not None:
                failures[modality] = error
        for modality, error in failures.items():
            if _is_client_error(error):
                return _renamed(error, modality)
        for modality, error in failures.items():
            if not allow_degraded or len(failures) == len(item.modalities()):
                return modality_unavailable(modality, error)
            extraction.skip(modality, error)
        return extraction

    def _collect(self, extraction: Extraction, modality: str, plan: _Plan, answers: dict[AnswerKey, Any],
                 bridged: dict[str, Embedded | Exception], allow_degraded: bool) -> ApiError | None:
        """Add the modality's vectors. Returned: a client error; or the error of a failed path (every path
        counts: without its bridge an image or a clip is poorly searchable), unless degradation is allowed and
        some path worked, in which case the failed paths are recorded as skipped."""
        if modality in plan.unavailable:
            return plan.unavailable[modality]
        failed = [(task, _as_api_error(v)) for (m, task), v in answers.items()
                  if m == modality and isinstance(v, Exception)]
        client_errors = [e for _, e in failed if e.status < 500]
        if client_errors:
            return client_errors[0]
        for (m, _), value in answers.items():
            if m == modality and isinstance(value, Embedded):
                path = "direct" if modality == "text" else ("joint" if plan.joint.get(modality) else "native")
                extraction.add(modality, value, path)
        bridge = bridged.get(modality)
        if isinstance(bridge, Embedded):
            via = "transcript" if modality == "audio" else "+".join(
                t for t in ("classify", "caption", "ocr") if isinstance(answers.get(AnswerKey(modality, t)), dict))
            extraction.add(modality, bridge, f"bridge:{via}")
        elif isinstance(bridge, Exception):
            failed.append((BRIDGE, _as_api_error(bridge)))
        if modality not in extraction.features:
            return failed[0][1] if failed else UnprocessableInput(
                f"the {modality} input gave nothing to embed (no labels, text or speech found)",
                code="nothing_to_embed")
        if failed and not allow_degraded:
            return failed[0][1]
        for task, error in failed:
            extraction.skip(modality, error, path=task)
        return None
