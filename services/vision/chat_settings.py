"""Bounds of generative question answering and chat in the vision service (prefix ``VISION_``)."""

from __future__ import annotations

from pydantic import Field

from servekit.settings import ModelRuntimeSettings


class GenerationSettings(ModelRuntimeSettings):
    """What a question or a conversation may cost: tokens, images, pixels, text and concurrent generations."""

    chat_max_new_tokens: int = Field(
        256, ge=1, le=32768, description="New tokens of a chat answer when the request names none.")
    chat_max_new_tokens_limit: int = Field(
        1024, ge=1, le=32768, description="Most new tokens a chat request may ask for (400 above, never clipped).")
    answer_max_new_tokens: int = Field(
        20, ge=1, le=1024, description="New tokens of a short answer (/v1/answer) when the request names none.")
    chat_max_images: int = Field(8, ge=1, le=256, description="Most images one conversation may carry.")
    chat_max_messages: int = Field(64, ge=1, le=4096, description="Most messages one conversation may carry.")
    chat_max_text_chars: int = Field(
        32000, ge=1, description="Most characters of text (all messages together) one conversation may carry.")
    chat_image_side: int = Field(
        1024, ge=32, le=8192,
        description="Images are scaled down (aspect kept) to this longest side before a generative model sees "
        "them; bounds the image tokens of dynamic-resolution models (Qwen2-VL, Idefics3).")
    max_concurrent_generations: int = Field(
        8, ge=1, le=1024,
        description="Questions and conversations generating (or waiting to) at once; one more is refused with "
        "503 and Retry-After.")
