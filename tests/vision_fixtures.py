"""Shared vision test material: tiny random checkpoints saved as real model folders, test photos, bad images.

The tiny models are randomly initialised from their transformers configs, written with ``save_pretrained``
(weights, config, tokenizer, image processor) and loaded by the services through the normal
``from_pretrained`` path. Each is built once per process (``functools.cache``) in a temporary folder.
"""

from __future__ import annotations

import atexit
import base64
import io
import shutil
import struct
import tempfile
import zlib
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

TINY_IMAGE = 32
_ROOT = Path(tempfile.mkdtemp(prefix="polyserve-vision-"))
atexit.register(shutil.rmtree, _ROOT, True)


# -- tokenizers whose vocabularies cover any ASCII text ------------------------------------------------
def _byte_level_vocab() -> dict[str, int]:
    """GPT-2's byte-to-printable-character table: every byte is one token, so any text encodes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in printable]
    chars = [chr(b) for b in printable] + [chr(256 + i) for i in range(len(extra))]
    return {char: index for index, char in enumerate(chars)}


def _clip_tokenizer() -> object:
    from transformers import CLIPTokenizer

    chars = list(_byte_level_vocab())
    vocab = {token: i for i, token in enumerate(chars + [c + "</w>" for c in chars])}
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def _bert_tokenizer() -> object:
    from transformers import BertTokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "cat", "the", "dog", "on", "with",
             "red", "blue", "car", "tree", "sky", "man", "woman", "sitting", "table", "cup", "coffee", "two"]
    words += [chr(c) for c in range(ord("a"), ord("z") + 1) if chr(c) not in words]
    return BertTokenizer(vocab={word: i for i, word in enumerate(words)})


def _gpt2_tokenizer() -> object:
    from transformers import GPT2Tokenizer

    vocab = _byte_level_vocab()
    vocab["<|endoftext|>"] = len(vocab)
    return GPT2Tokenizer(vocab=vocab, merges=[])


def _tower(**extra: int) -> dict[str, int]:
    return {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4, **extra}


# -- tiny checkpoints ------------------------------------------------------------------------------------
@cache
def tiny_clip_dir() -> Path:
    """A random CLIP (text + image towers) with tokenizer and image processor, as a model folder."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    tokenizer = _clip_tokenizer()
    text = _tower(vocab_size=len(tokenizer), max_position_embeddings=32, bos_token_id=tokenizer.bos_token_id,
                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    vision = _tower(image_size=TINY_IMAGE, patch_size=8)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).eval()
    folder = _ROOT / "tiny-clip"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": TINY_IMAGE},
                       crop_size={"height": TINY_IMAGE, "width": TINY_IMAGE}).save_pretrained(folder)
    return folder


@cache
def tiny_siglip_dir() -> Path:
    """A random SigLIP (both towers) with its image processor, as a model folder (no tokenizer: images only)."""
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    torch.manual_seed(0)
    text = _tower(vocab_size=64, max_position_embeddings=16)
    vision = _tower(image_size=TINY_IMAGE, patch_size=8)
    model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision)).eval()
    folder = _ROOT / "tiny-siglip"
    model.save_pretrained(folder)
    SiglipImageProcessor(size={"height": TINY_IMAGE, "width": TINY_IMAGE}).save_pretrained(folder)
    return folder


@cache
def tiny_blip_dir() -> Path:
    """A random BLIP captioner with its BlipProcessor (BERT tokenizer), as a model folder."""
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    torch.manual_seed(0)
    tokenizer = _bert_tokenizer()
    text = _tower(vocab_size=len(tokenizer), max_position_embeddings=64, encoder_hidden_size=32,
                  bos_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id,
                  eos_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id)
    vision = _tower(image_size=TINY_IMAGE, patch_size=8)
    model = BlipForConditionalGeneration(BlipConfig(text_config=text, vision_config=vision)).eval()
    folder = _ROOT / "tiny-blip"
    model.save_pretrained(folder)
    processor = BlipProcessor(BlipImageProcessor(size={"height": TINY_IMAGE, "width": TINY_IMAGE}), tokenizer)
    processor.save_pretrained(folder)
    return folder


@cache
def tiny_vit_gpt2_dir() -> Path:
    """A random ViT encoder + GPT-2 decoder (VisionEncoderDecoder) with processor and tokenizer."""
    import torch
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
        ViTModel,
    )

    torch.manual_seed(0)
    tokenizer = _gpt2_tokenizer()
    encoder = ViTModel(ViTConfig(**_tower(image_size=TINY_IMAGE, patch_size=8)))
    decoder = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4,
                                         n_positions=64, add_cross_attention=True, is_decoder=True,
                                         bos_token_id=tokenizer.bos_token_id,
                                         eos_token_id=tokenizer.eos_token_id))
    model = VisionEncoderDecoderModel(encoder=encoder, decoder=decoder).eval()
    model.config.decoder_start_token_id = tokenizer.bos_token_id
    model.config.pad_token_id = tokenizer.eos_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.decoder_start_token_id = tokenizer.bos_token_id
    model.generation_config.pad_token_id = tokenizer.eos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    folder = _ROOT / "tiny-vit-gpt2"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    ViTImageProcessor(size={"height": TINY_IMAGE, "width": TINY_IMAGE}).save_pretrained(folder)
    return folder


# -- real photos and rendered text -----------------------------------------------------------------------
def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@cache
def photo_png(name: str) -> bytes:
    """One of scikit-image's bundled photos (``chelsea``, ``coffee``, ``astronaut``...) as PNG bytes."""
    from skimage import data

    return encode(Image.fromarray(getattr(data, name)()).convert("RGB"))


def render_text(lines: list[str], size: int = 40) -> Image.Image:
    """Black text on white, one line per entry, with Pillow's bundled scalable font."""
    font = ImageFont.load_default(size=size)
    image = Image.new("RGB", (max(len(line) for line in lines) * size * 2 // 3 + 60, len(lines) * size * 2),
                      "white")
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((30, 20 + row * size * 2), line, fill="black", font=font)
    return image


# -- bad and awkward images ------------------------------------------------------------------------------
def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares ``width x height`` pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1024, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def truncated_jpeg() -> bytes:
    data = encode(Image.open(io.BytesIO(photo_png("chelsea"))), "JPEG", quality=90)
    return data[: len(data) // 2]


def cmyk_jpeg() -> bytes:
    return encode(Image.open(io.BytesIO(photo_png("coffee"))).convert("CMYK"), "JPEG", quality=90)


def png_16bit() -> bytes:
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    return encode(Image.fromarray(ramp))


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 30), color) for color in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def rgba_png() -> bytes:
    image = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 8, 16))
    return encode(image)


def bad_image_corpus() -> dict[str, tuple[bytes, int | None, str | None]]:
    """name -> (bytes, expected status or None for success, expected error code)."""
    return {
        "truncated_jpeg": (truncated_jpeg(), 400, "corrupt_image"),
        "png_bomb": (png_bomb(), 413, "image_too_many_pixels"),
        "wrong_magic": (b"\x89PNX\r\n\x1a\n" + photo_png("chelsea")[8:200], 400, "invalid_image"),
        "text_named_png": (b"this is a text file, not a picture\n" * 4, 400, "invalid_image"),
        "huge_dimensions": (png_bomb(70_000, 1), 400, "image_aspect_ratio"),
        "animated_gif": (animated_gif(), None, None),
        "png_16bit": (png_16bit(), None, None),
        "cmyk_jpeg": (cmyk_jpeg(), None, None),
        "rgba_png": (rgba_png(), None, None),
        "one_pixel": (encode(Image.new("RGB", (1, 1), "white")), None, None),
        "tall_strip": (encode(Image.new("L", (4, 300), 200)), None, None),
    }
