"""Bytes -> a clean RGB Pillow image, hardened against hostile files.

Only the formats listed in ``FORMATS`` are parsed. The header is read first, so a decompression bomb is
refused before a single pixel is decoded; truncated and corrupt files become a 400 with a stable code;
EXIF orientation is applied, only the first frame of an animation is used, alpha is flattened onto white,
every colour mode (grayscale, palette, CMYK, 16-bit, float) ends as 8-bit RGB, and images longer than
``max_side`` are scaled down (large JPEGs decode directly at a reduced scale), which bounds memory per image.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from servekit.errors import InvalidInput, PayloadTooLarge

FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
BACKGROUND = (255, 255, 255)
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


@dataclass(frozen=True)
class ImageLimits:
    """What an image may be: encoded size, decoded pixel count and how elongated."""

    max_bytes: int
    max_pixels: int
    max_aspect_ratio: float
    max_side: int = 4096


def decode_image(data: bytes, limits: ImageLimits, *, param: str = "input") -> Image.Image:
    """Decode ``data`` into an RGB image, or raise the matching 4xx :class:`ApiError`."""
    if not data:
        raise InvalidInput("image is empty", param=param, code="empty_input")
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(f"image is larger than {limits.max_bytes} bytes", param=param,
                              code="image_too_large")
    image = _open(data, param)
    check_geometry(image.size, limits, param)
    try:
        image.seek(0)
        _draft_within(image, limits.max_side)
        image.load()
        return _fit(to_rgb(_upright(image)), limits.max_side)
    except Exception:  # noqa: BLE001 - whatever a hostile file makes the decoder raise is the file's fault
        raise InvalidInput(f"{image.format} image is truncated or corrupt", param=param,
                           code="corrupt_image") from None


def _open(data: bytes, param: str) -> Image.Image:
    """Read the header only; a file that is no supported image is refused here."""
    try:
        return Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PayloadTooLarge("image declares more pixels than allowed", param=param,
                              code="image_too_many_pixels") from None
    except UnidentifiedImageError:
        raise InvalidInput(f"not a supported image; accepted formats: {', '.join(FORMATS)}", param=param,
                           code="invalid_image") from None
    except Exception:  # noqa: BLE001 - as above: a parser failure on untrusted bytes is bad input
        raise InvalidInput("image header is corrupt", param=param, code="corrupt_image") from None


def check_geometry(size: tuple[int, int], limits: ImageLimits, param: str) -> None:
    """Refuse empty, too many pixels (bomb) or too elongated images before they are decoded."""
    width, height = size
    if width < 1 or height < 1:
        raise InvalidInput("image has no pixels", param=param, code="corrupt_image")
    if width * height > limits.max_pixels:
        raise PayloadTooLarge(f"image has {width}x{height} pixels; at most {limits.max_pixels} are allowed",
                              param=param, code="image_too_many_pixels")
    if max(width, height) / min(width, height) > limits.max_aspect_ratio:
        raise InvalidInput(f"image is {width}x{height}; its aspect ratio exceeds {limits.max_aspect_ratio:g}",
                           param=param, code="image_aspect_ratio")


def _draft_within(image: Image.Image, max_side: int) -> None:
    """Let a large JPEG decode at 1/2, 1/4 or 1/8 scale (DCT scaling) while staying >= ``max_side`` long."""
    width, height = image.size
    longest = max(width, height)
    if image.format == "JPEG" and longest > 2 * max_side:
        image.draft(None, (math.ceil(width * max_side / longest), math.ceil(height * max_side / longest)))


def _fit(image: Image.Image, max_side: int) -> Image.Image:
    """Downscale (aspect kept) so the long side is at most ``max_side``: no model needs more, memory stays bounded."""
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    return image


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block is ignored rather than failing the image."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - EXIF is advisory
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB, alpha composited onto white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        image = _high_depth_to_l(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image if image.mode == "RGB" else image.convert("RGB")


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    """16-bit and float grayscale scaled to 8 bits (Pillow's own conversion clips instead of scaling)."""
    array = np.asarray(image)
    if image.mode == "F":
        top = 1.0 if float(np.nanmax(array, initial=0.0)) <= 1.0 else 255.0
        scaled = np.nan_to_num(array / top * 255.0)
    else:
        scaled = array.astype(np.float64) / 257.0
    return Image.fromarray(np.clip(scaled, 0, 255).round().astype(np.uint8))
