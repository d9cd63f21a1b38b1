"""Image decoding: every supported format and colour mode ends as RGB; hostile files get a clear 4xx."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from servekit.errors import ApiError, InvalidInput, PayloadTooLarge
from services.vision.imaging import ImageLimits, decode_image
from tests.support.media import bad_image_corpus, encode_image, photo_png, png_bomb

LIMITS = ImageLimits(max_bytes=4 * 1024 * 1024, max_pixels=20_000_000, max_aspect_ratio=100.0)


@pytest.mark.parametrize("name", sorted(bad_image_corpus()))
def test_corpus_entry_decodes_or_fails_with_its_code(name: str) -> None:
    data, status, code = bad_image_corpus()[name]
    if status is None:
        image = decode_image(data, LIMITS)
        assert image.mode == "RGB" and image.width >= 1 and image.height >= 1
        return
    with pytest.raises(ApiError) as caught:
        decode_image(data, LIMITS)
    assert (caught.value.status, caught.value.code) == (status, code)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_accepted_format_decodes_to_the_same_picture(fmt: str) -> None:
    original = Image.open(io.BytesIO(photo_png("coffee"))).convert("RGB")
    decoded = decode_image(encode_image(original, fmt), LIMITS)
    assert decoded.size == original.size
    difference = np.abs(np.asarray(decoded, np.float32) - np.asarray(original, np.float32)).mean()
    assert difference < 25  # lossy formats and GIF's 256-colour palette stay close to the original


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), "white")
    image.paste((255, 0, 0), (0, 0, 10, 20))  # red strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90 degrees clockwise
    decoded = decode_image(encode_image(image, "JPEG", exif=exif.tobytes(), quality=95), LIMITS)
    assert decoded.size == (20, 40)
    top = np.asarray(decoded)[:5].mean(axis=(0, 1))
    assert top[0] > 200 and top[1] < 80  # the left strip is now on top


def test_alpha_is_flattened_onto_white() -> None:
    decoded = np.asarray(decode_image(bad_image_corpus()["rgba_png"][0], LIMITS))
    assert tuple(decoded[0, 0]) == (0, 0, 255)  # opaque blue half stays blue
    assert tuple(decoded[0, 15]) == (255, 255, 255)  # transparent half becomes white, not red


def test_sixteen_bit_grayscale_is_scaled_not_clipped() -> None:
    decoded = np.asarray(decode_image(bad_image_corpus()["png_16bit"][0], LIMITS))
    assert decoded[0, 0, 0] == 0 and decoded[-1, -1, 0] == 255
    assert 100 < decoded[32, 0, 0] < 155  # mid-ramp is mid-gray (Pillow's own conversion would give 255)


def test_cmyk_jpeg_keeps_its_colours() -> None:
    original = np.asarray(Image.open(io.BytesIO(photo_png("coffee"))).convert("RGB"), np.float32)
    decoded = np.asarray(decode_image(bad_image_corpus()["cmyk_jpeg"][0], LIMITS), np.float32)
    assert np.abs(decoded - original).mean() < 20


def test_animated_gif_gives_its_first_frame() -> None:
    decoded = np.asarray(decode_image(bad_image_corpus()["animated_gif"][0], LIMITS))
    assert tuple(decoded[0, 0]) == (255, 0, 0)


def test_palette_with_transparency_is_flattened() -> None:
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    image.info["transparency"] = 1
    decoded = np.asarray(decode_image(encode_image(image, "PNG", transparency=1), LIMITS))
    assert tuple(decoded[0, 0]) == (255, 255, 255)


def test_pixel_limit_refuses_before_decoding() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        decode_image(png_bomb(5000, 5000), ImageLimits(10**6, 1_000_000, 100.0))
    assert caught.value.code == "image_too_many_pixels"


def test_byte_limit_is_a_413() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        decode_image(photo_png("chelsea"), ImageLimits(1000, 10**7, 100.0))
    assert caught.value.status == 413


@pytest.mark.parametrize("data", [b"", b"GIF89a", b"\xff\xd8\xff", b"BM" + b"\x00" * 10, b"II*\x00" + b"\x00" * 4])
def test_headers_without_images_are_400(data: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_image(data, LIMITS)
    assert caught.value.code in {"empty_input", "invalid_image", "corrupt_image"}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_mutated_files_decode_or_fail_with_a_4xx(fmt: str) -> None:
    """Random byte flips and cuts of valid files: never anything but an image or a 4xx."""
    rng = np.random.default_rng(7)
    original = bytearray(encode_image(Image.new("RGB", (48, 32), (10, 200, 30)).convert("P" if fmt == "GIF" else "RGB"),
                                fmt))
    for _ in range(60):
        mutated = bytearray(original)
        for position in rng.integers(0, len(mutated), size=int(rng.integers(1, 8))):
            mutated[position] = int(rng.integers(0, 256))
        if rng.random() < 0.3:
            mutated = mutated[: int(rng.integers(1, len(mutated)))]
        try:
            image = decode_image(bytes(mutated), LIMITS)
        except ApiError as error:
            assert 400 <= error.status < 500
        else:
            assert image.mode == "RGB"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_large_images_are_scaled_down_with_their_aspect(fmt: str) -> None:
    large = Image.new("RGB", (2400, 600), (200, 30, 30))
    large.paste((30, 30, 200), (1200, 0, 2400, 600))
    decoded = decode_image(encode_image(large, fmt), ImageLimits(10**7, 10**7, 100.0, max_side=500))
    assert decoded.size == (500, 125)
    left, right = np.asarray(decoded)[60, 100], np.asarray(decoded)[60, 400]
    assert left[0] > 150 > left[2] and right[2] > 150 > right[0]


def test_images_within_the_side_limit_keep_their_size() -> None:
    decoded = decode_image(photo_png("chelsea"), ImageLimits(10**7, 10**7, 100.0, max_side=451))
    assert decoded.size == (451, 300)
