"""Fusion service settings (prefix ``FUSION_``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servekit.catalog import ENCODERS, SERVICES
from servekit.settings import ServiceSettings, with_upstream_urls

# FUSION_TEXT_URL, FUSION_VISION_URL, ...: one field per encoder service in the catalog.
if TYPE_CHECKING:
    _Base = ServiceSettings
else:
    _Base = with_upstream_urls(ServiceSettings, ENCODERS)


class FusionSettings(_Base):
    model_config = SettingsConfigDict(env_prefix=SERVICES["fusion"].env_prefix)

    port: int = Field(SERVICES["fusion"].port, ge=1, le=65535, description="TCP port the fusion service listens on.")
    threads: int = Field(16, ge=1, le=512, description="Request threads; each waits on encoder calls.")
    max_body_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above); bulk ingest of "
        "base64 images and audio needs room.",
    )
    data_dir: Path = Field(
        Path("var/fusion"), description="Directory of the embedded index (index.db) and of the trained fusion "
        "heads (heads/); relative paths start at the working directory.",
    )
    milvus_uri: str = Field(
        "", description="Vector database: empty = embedded Milvus Lite file <data_dir>/index.db; "
        "http://host:19530 = a Milvus server or cluster.",
    )
    milvus_token: str | None = Field(None, description="Token (user:password or API key) of a Milvus server.")
    milvus_db: str = Field("", description="Milvus database to use on a server; empty = the default database.")
    milvus_consistency: Literal["Strong", "Session", "Bounded", "Eventually"] = Field(
        "Session", description="Consistency of reads on a Milvus server: Session = a replica sees its own "
        "acknowledged writes at once and other replicas' within moments; Strong = every write acknowledged "
        "before, by any replica, at the cost of waiting for the server's time tick (about 0.3 s per read "
        "measured on Milvus 2.3); Bounded/Eventually = faster, possibly stale.",
    )
    upstream_connect_timeout_s: float = Field(2.0, gt=0, description="Connect timeout to an encoder service.")
    upstream_pool_size: int = Field(32, ge=1, description="Pooled connections per encoder service.")
    fanout_workers: int = Field(64, ge=1, le=1024, description="Threads of the parallel fan-out to encoders.")
    catalog_ttl_s: float = Field(
        30.0, ge=0, description="How long the encoders' model lists (tasks, spaces) are cached."
    )
    answer_margin_s: float = Field(
        0.15, ge=0, description="Part of every request's deadline kept for the fusion service's own work after "
        "the last encoder call (search, fusion, the answer), so that it answers before its caller gives up.",
    )
    text_model: str | None = Field(
        None, description="Text model used for bridging (labels, OCR text, transcripts -> text vectors); "
        "empty = the text service's default embedding model.",
    )
    bridge_labels: int = Field(3, ge=1, le=20, description="Top image labels put into an image's bridge text.")
    bridge_ocr: bool = Field(True, description="Add an image's OCR text to its bridge text when OCR is served.")
    ocr_min_confidence: float = Field(0.8, ge=0, le=1, description="OCR lines below this confidence are left "
                                      "out of an image's bridge text.")
    bridge_caption: bool = Field(True, description="Add an image's caption to its bridge text when captioning "
                                 "is served.")
    max_items_per_request: int = Field(256, ge=1, description="Most items one upsert or bulk request may carry.")
    max_top_k: int = Field(1000, ge=1, description="Largest top_k a search may ask for.")
    candidate_factor: int = Field(
        4, ge=1, le=100, description="Each per-view vector search fetches top_k x this many candidates, which "
        "the strategy then re-scores exactly.",
    )
    rrf_k: float = Field(60.0, gt=0, description="The constant k of reciprocal-rank fusion: 1 / (k + rank).")
    early_projection_dim: int = Field(
        0, ge=0, description="Dimension of the early-fusion joint vector after a fixed random projection; "
        "0 keeps the concatenation.",
    )
    projection_seed: int = Field(1234, description="Seed of the early-fusion random projection matrix.")
    head_epochs: int = Field(200, ge=1, le=10_000, description="Default training epochs of a fusion head.")
    max_training_examples: int = Field(5000, ge=1, description="Most labelled examples one training run takes.")
    text_batch_size: int = Field(64, ge=1, le=256, description="Most texts sent in one call to the text "
                                 "service (item texts, bridge texts, labels).")
    ingest_batch_size: int = Field(32, ge=1, description="Items encoded together during bulk ingest.")
    video_frame_rate: float = Field(1.0, gt=0, le=30, description="Frames sampled per second of video (plus one "
                                    "at each scene change).")
    video_scene_threshold: float = Field(
        0.25, ge=0, le=1, description="A decoded frame whose small grey thumbnail differs from the previous "
        "one's by more than this (mean absolute difference, 0-1) is a scene change: sampled, and a segment starts "
        "there; 0 turns scene detection off.")
    video_segment_s: float = Field(5.0, ge=0.5, le=600, description="Longest segment of a video, in seconds; "
                                   "segments also end at scene changes.")
    video_max_duration_s: float = Field(3600.0, gt=0, description="Longest video accepted, in seconds (checked "
                                        "in the header and while decoding).")
    video_max_width: int = Field(3840, ge=16, description="Widest video picture accepted, in pixels.")
    video_max_height: int = Field(2160, ge=16, description="Tallest video picture accepted, in pixels.")
    video_max_frames: int = Field(4000, ge=1, description="Most frames sampled from one video (413 above).")
    video_max_fps: float = Field(
        120.0, gt=0, description="Most decoded frames per second of the duration limit: a video may hold at most "
        "video_max_duration_s x this many frames, declared or decoded.")
    video_max_upload_bytes: int = Field(512 * 1024 * 1024, ge=1024, description="Largest video upload, in bytes "
                                        "(413 above).")
    video_frame_side: int = Field(512, ge=64, le=4096, description="Sampled frames are downscaled to fit this "
                                  "many pixels a side before they go to the vision service.")
    video_segments_per_batch: int = Field(
        4, ge=1, le=256, description="Segments encoded together (their frames fan out to the vision service at "
        "once); progress is saved after each batch.")
    video_transcribe_chunk_s: float = Field(
        300.0, ge=10, description="The audio track is transcribed in windows of this many seconds (sent in "
        "parallel; the audio service's synchronous limit applies to each).")
    video_call_timeout_s: float = Field(
        900.0, gt=0, description="Longest one transcription call of a video job may take (jobs are not bound by "
        "request_timeout_s).")
    video_retry_delays_s: list[float] = Field(
        default_factory=lambda: [2.0, 10.0, 30.0], description="JSON list: pauses before a video job tries a "
        "batch again after a server-side failure (an encoder restarting); the job fails after the last.")
    video_audio_clips: bool = Field(
        False, description="Also embed each segment's audio clip with the audio service's embedding model (a "
        "joint audio-text model such as CLAP makes sounds searchable by text); transcripts are always used.")
    video_group_size: int = Field(3, ge=1, le=100, description="Best segments listed per video when a search "
                                  "groups its hits by video.")

    if TYPE_CHECKING:  # generated with the <name>_url fields, one per encoder in the catalog
        def upstream_urls(self) -> dict[str, str]: ...

    def index_uri(self) -> str:
        """Where the vector database lives: the configured server, or the embedded file."""
        return self.milvus_uri or str(self.data_dir / "index.db")
