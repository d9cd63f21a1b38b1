"""Everything a fusion request needs, built once per app from the settings: the store, the encoders, the
feature extractor, the trained heads and the early-fusion projections."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from servekit.errors import ApiError, InvalidInput
from servekit.slots import AppSlot
from services.fusion.encoders import Encoders
from services.fusion.features import Extraction, FeatureExtractor
from services.fusion.heads import HeadRegistry
from services.fusion.inputs import Inputs
from services.fusion.schemas import FusionParams
from services.fusion.scoring import FusionOptions, Projections
from services.fusion.settings import FusionSettings
from services.fusion.store import MilvusStore

_STORE_LOCK = threading.Lock()


@dataclass
class FusionRuntime:
    """The index is opened on first use: the training CLI never opens it (Milvus Lite allows one process)."""

    settings: FusionSettings
    encoders: Encoders
    extractor: FeatureExtractor
    heads: HeadRegistry
    projections: Projections
    executor: ThreadPoolExecutor

    @classmethod
    def build(cls, settings: FusionSettings) -> FusionRuntime:
        if not settings.milvus_uri:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        executor = ThreadPoolExecutor(max_workers=settings.fanout_workers, thread_name_prefix="fusion-fanout")
        encoders = Encoders(settings)
        heads = HeadRegistry(settings.data_dir / "heads")
        heads.load_all()
        return cls(settings, encoders, FeatureExtractor(encoders, executor), heads,
                   Projections(settings.early_projection_dim, settings.projection_seed), executor)

    @property
    def store(self) -> MilvusStore:
        with _STORE_LOCK:
            if "_store" not in self.__dict__:
                self.__dict__["_store"] = MilvusStore(self.settings.index_uri(), token=self.settings.milvus_token,
                                                      db_name=self.settings.milvus_db,
                                                      consistency=self.settings.milvus_consistency)
            store: MilvusStore = self.__dict__["_store"]
            return store

    def options(self, params: FusionParams) -> FusionOptions:
        """The request's fusion parameters, with its head (if it names one) looked up."""
        if params.head is not None and params.strategy != "intermediate":
            raise InvalidInput("a fusion head is used by the intermediate strategy only", param="head",
                               code="head_needs_intermediate")
        return FusionOptions(params.strategy, params.method, {str(k): v for k, v in params.weights.items()},
                             self.heads.get(params.head) if params.head else None)

    def extract_one(self, inputs: Inputs, allow_degraded: bool, want_spaces: set[str] | None = None) -> Extraction:
        """One input's features; its error (bad input, modality down) fails the request."""
        (result,) = self.extractor.extract([inputs], allow_degraded=allow_degraded, want_spaces=want_spaces)
        if isinstance(result, ApiError):
            raise result
        return result

    def close(self) -> None:
        self.executor.shutdown(wait=False)
        self.encoders.close()
        if "_store" in self.__dict__:
            self.store.close()


RUNTIME: AppSlot[FusionRuntime] = AppSlot("fusion")


def runtime() -> FusionRuntime:
    """The runtime of the current app."""
    return RUNTIME.current()
