"""The model interface, the configuration of a served model, and the pool that loads and batches them.

A backend's life is ``load`` (weights onto the device) then ``warmup`` (one real forward pass); after that
the pool reports ready and serves each (model, task) pair through its own micro-batcher.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from servekit.batching import MicroBatcher
from servekit.device import Placement, resolve_placement
from servekit.errors import InvalidInput, ModelNotFound, ModelNotReady
from servekit.metrics import ServiceMetrics
from servekit.settings import ModelRuntimeSettings
from servekit.slots import AppSlot

log = logging.getLogger(__name__)
T = TypeVar("T")


class ModelSpec(BaseModel):
    """One served model, as configured: ``{"name", "backend", "source", "space"?, "options"?}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:/\-]+$",
                      description="Public model name clients ask for.")
    backend: str = Field(description="Backend key in the service's registry.")
    source: str = Field(description="Hub id, local folder, or package:<module> for weights shipped in a package.")
    space: str | None = Field(None, description="Embedding space id; vectors are comparable only within one space.")
    options: dict[str, Any] = Field(default_factory=dict, description="Backend-specific options.")


class ModelBackend(ABC):
    """A loaded model serving one or more tasks (``embed``, ``caption``, ``transcribe``, ...).

    The contract: list the tasks in ``tasks`` and implement each as a batched method named after it, taking
    the batch's items and returning one output per item, in order (an exception in a slot fails only that
    item). Time the stages with :meth:`stage`. The pool calls :meth:`predict`, which dispatches.
    """

    tasks: ClassVar[frozenset[str]] = frozenset()
    # Models of one family built from one checkpoint share a space (CLIP text and CLIP image, say).
    space_family: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        missing = sorted(task for task in cls.tasks if not callable(getattr(cls, task, None)))
        if missing:
            raise TypeError(f"{cls.__name__} lists tasks without a method: {missing}")

    def __init__(self, spec: ModelSpec, placement: Placement, metrics: ServiceMetrics | None = None) -> None:
        self.spec = spec
        self.placement = placement
        self.metrics = metrics

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def space(self) -> str | None:
        """Configured, or ``family:source`` so that two towers of one checkpoint agree across services."""
        if self.spec.space:
            return self.spec.space
        return f"{self.space_family}:{self.spec.source}" if self.space_family else None

    @abstractmethod
    def load(self) -> None:
        """Read weights and move them to the device."""

    @abstractmethod
    def warmup(self) -> None:
        """Run one real forward pass so that the first request pays no start-up cost."""

    def predict(self, task: str, items: list[Any]) -> list[Any]:
        """The batched method of ``task`` over ``items``: one output per item, in order."""
        if task not in self.tasks:
            raise InvalidInput(f"model {self.name!r} does not support {task}; it supports {sorted(self.tasks)}",
                               param="model", code="unsupported_task")
        method: Callable[[list[Any]], Sequence[Any]] = getattr(self, task)
        outputs = list(method(items))
        if len(outputs) != len(items):
            raise RuntimeError(f"{self.name}.{task} returned {len(outputs)} outputs for {len(items)} items")
        return outputs

    def each(self, items: Sequence[T], run: Callable[[T], Any]) -> list[Any]:
        """For a model that takes one item at a time: ``run`` per item, timed as the forward stage; an
        exception fails its item alone."""
        outputs: list[Any] = []
        for item in items:
            try:
                with self.stage("forward", 1):
                    outputs.append(run(item))
            except Exception as exc:  # noqa: BLE001 - fails this item only
                outputs.append(exc)
        return outputs

    def prepare(self, task: str, items: list[Any]) -> list[Any]:
        """Per-item work done in the request's own thread before batching (tokenising), off the model's thread;
        ``predict`` then gets prepared items. Identity by default."""
        return items

    def item_cost(self, task: str) -> Callable[[Any], int] | None:
        """The cost of one prepared item (a token count) for length-aware batch formation; ``None`` batches in
        arrival order."""
        return None

    def info(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says about this model."""
        return {"id": self.name, "object": "model", "backend": self.spec.backend, "tasks": sorted(self.tasks),
                "space": self.space, "device": self.placement.device}

    @contextmanager
    def stage(self, name: str, size: int) -> Iterator[None]:
        """Time one stage (preprocess / forward / postprocess) of a batch into the model histogram."""
        started = time.perf_counter()
        yield
        if self.metrics is not None:
            self.metrics.model_seconds.labels(self.metrics.service, self.name, name).observe(
                time.perf_counter() - started)


def current_pool() -> ModelPool:
    """The model pool of the app serving the current request."""
    return POOL.current()


def import_object(path: str) -> Any:
    """``package.module:Name`` -> the object; backends are imported only when configured."""
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def resolve_source(source: str) -> str:
    """``package:<module>`` -> the folder that module ships (its ``MODEL_DIR``); anything else unchanged."""
    if not source.startswith("package:"):
        return source
    module = importlib.import_module(source.removeprefix("package:"))
    folder = getattr(module, "MODEL_DIR", None) or getattr(module, "model_dir", None)
    if folder is None:
        paths = list(getattr(module, "__path__", []))
        if not paths:
            raise ValueError(f"{source}: module has no MODEL_DIR")
        folder = paths[0]
    return str(folder)


class ModelPool:
    """Loads the configured models in the background and routes work to their batchers."""

    def __init__(
        self,
        specs: Sequence[ModelSpec],
        registry: Mapping[str, str],
        settings: ModelRuntimeSettings,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate model names in configuration: {names}")
        for spec in specs:
            if spec.backend not in registry:
                raise ValueError(f"model {spec.name}: unknown backend {spec.backend!r}; known: {sorted(registry)}")
        self._specs = list(specs)
        self._registry = dict(registry)
        self._settings = settings
        self._metrics = metrics
        self._backends: dict[str, ModelBackend] = {}
        self._batchers: dict[tuple[str, str], MicroBatcher[Any, Any]] = {}
        self._state: dict[str, str] = {s.name: "pending" for s in specs}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------------------
    def start(self, background: bool = True) -> None:
        if background:
            self._thread = threading.Thread(target=self._load_all, name="model-loader", daemon=True)
            self._thread.start()
        else:
            self._load_all()

    def _load_all(self) -> None:
        placement = resolve_placement(self._settings.device, self._settings.fp16, self._settings.torch_threads,
                                      self._settings.cpu_bf16)
        for spec in self._specs:
            self._load_one(spec, placement)

    def _load_one(self, spec: ModelSpec, placement: Placement) -> None:
        self._state[spec.name] = "loading"
        started = time.perf_counter()
        try:
            backend_cls = import_object(self._registry[spec.backend])
            backend: ModelBackend = backend_cls(spec, placement, self._metrics)
            backend.load()
            if self._settings.warmup:
                backend.warmup()
        except Exception:  # noqa: BLE001 - a model that fails to load keeps the service not ready
            log.exception("model failed to load", extra={"model": spec.name})
            self._state[spec.name] = "failed"
            return
        with self._lock:
            self._backends[spec.name] = backend
            for task in backend.tasks:
                self._batchers[(spec.name, task)] = self._make_batcher(backend, task)
            self._state[spec.name] = "ready"
        log.info("model ready", extra={"model": spec.name, "seconds": round(time.perf_counter() - started, 2)})

    def _make_batcher(self, backend: ModelBackend, task: str) -> MicroBatcher[Any, Any]:
        max_batch = int(backend.spec.options.get("max_batch_size", self._settings.max_batch_size))

        def run(items: list[Any]) -> Sequence[Any]:
            return backend.predict(task, items)

        return MicroBatcher(
            f"{backend.name}/{task}" if len(backend.tasks) > 1 else backend.name, run,
            max_batch_size=max_batch, max_wait_s=self._settings.max_wait_ms / 1000.0,
            queue_size=self._settings.queue_size, metrics=self._metrics, cost=backend.item_cost(task),
            max_batch_cost=self._settings.max_batch_tokens, max_queue_s=self._settings.max_queue_ms / 1000.0,
        )

    def close(self) -> None:
        for batcher in self._batchers.values():
            batcher.close()

    # -- queries -------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return bool(self._specs) and all(state == "ready" for state in self._state.values())

    def ready_check(self) -> tuple[bool, dict[str, Any]]:
        return self.ready, {"models": dict(self._state)}

    def backend(self, name: str, task: str | None = None) -> ModelBackend:
        """The loaded backend called ``name`` that serves ``task``, or the matching 4xx/503."""
        if name not in self._state:
            raise ModelNotFound(f"model {name!r} does not exist; GET /v1/models lists the models",
                                param="model")
        backend = self._backends.get(name)
        if backend is None:
            raise ModelNotReady(f"model {name!r} is {self._state[name]}")
        if task is not None and task not in backend.tasks:
            raise InvalidInput(f"model {name!r} does not support {task}; it supports {sorted(backend.tasks)}",
                               param="model", code="unsupported_task")
        return backend

    def resolve(self, requested: str | None, task: str) -> str:
        """The model a request names (checked to serve ``task``), or the first configured one that does.

        With none named and none loaded that serves ``task``: 503 while models are still loading (one of them
        may), 404 once every model has loaded or failed (none ever will).
        """
        if requested is not None:
            self.backend(requested, task)
            return requested
        for spec in self._specs:
            backend = self._backends.get(spec.name)
            if backend is not None and task in backend.tasks:
                return spec.name
        if any(state in ("pending", "loading") for state in self._state.values()):
            raise ModelNotReady(f"no loaded model serves {task} yet")
        raise ModelNotFound(f"no configured model serves {task}", param="model")

    def run(self, name: str, task: str, items: Sequence[Any], timeout_s: float) -> list[Any]:
        """Batch ``items`` through the model; per-item exceptions come back in their slots."""
        backend = self.backend(name, task)
        batcher = self._batchers[(name, task)]
        batcher.refuse_if_late(timeout_s, len(items))  # before tokenising what would be refused anyway
        return batcher.run(backend.prepare(task, list(items)), timeout_s)

    def expected_wait_s(self, name: str, task: str) -> float:
        """Seconds new work for ``name``'s ``task`` would wait behind what is queued and running."""
        return self._batchers[(name, task)].expected_wait_s()

    def list_models(self) -> list[dict[str, Any]]:
        listed = []
        for spec in self._specs:
            backend = self._backends.get(spec.name)
            entry = backend.info() if backend else {"id": spec.name, "object": "model", "backend": spec.backend,
                                                    "space": spec.space}
            entry["status"] = self._state[spec.name]
            listed.append(entry)
        return listed


POOL: AppSlot[ModelPool] = AppSlot("pool")
