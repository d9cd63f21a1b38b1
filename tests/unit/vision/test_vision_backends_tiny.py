"""CLIP, BLIP and ViT-GPT2 backends on tiny random checkpoints, against the same models run directly."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from servekit.device import Placement
from servekit.models import ModelSpec
from services.vision.backends.captioning import BlipCaptioner, VisionEncoderDecoderCaptioner
from services.vision.backends.clip import ClipImageEmbedder, SiglipImageEmbedder
from services.vision.items import Generation, ImageItem
from tests.support.media import photo_png
from tests.support.tiny_models import tiny_blip_dir, tiny_clip_dir, tiny_siglip_dir, tiny_vit_gpt2_dir

CPU = Placement("cpu", "float32")
SHORT = Generation(max_new_tokens=6, num_beams=1)


def photos() -> list[Image.Image]:
    return [Image.open(io.BytesIO(photo_png(name))).convert("RGB") for name in ("chelsea", "coffee")]


def loaded(cls: type, backend: str, folder: str) -> object:
    model = cls(ModelSpec(name=backend, backend=backend, source=folder), CPU)
    model.load()
    return model


TWO_TOWERS = [
    # (backend class, registry key, tiny folder, transformers model and processor, vector size, space family)
    (ClipImageEmbedder, "clip-vision", tiny_clip_dir, "CLIPModel", "CLIPImageProcessor", 16, "clip"),
    (SiglipImageEmbedder, "siglip-vision", tiny_siglip_dir, "SiglipModel", "SiglipImageProcessor", 32, "siglip"),
]


@pytest.mark.parametrize(("backend_cls", "key", "make_dir", "model_name", "processor_name", "size", "family"),
                         TWO_TOWERS, ids=["clip", "siglip"])
def test_image_vectors_equal_the_two_tower_model_image_features(
        backend_cls: type, key: str, make_dir: Any, model_name: str, processor_name: str, size: int,
        family: str) -> None:
    import transformers

    folder = str(make_dir())
    backend = loaded(backend_cls, key, folder)
    ours = np.stack(backend.embed([ImageItem(image) for image in photos()]))  # type: ignore[attr-defined]
    model = getattr(transformers, model_name).from_pretrained(folder).eval()
    processor = getattr(transformers, processor_name).from_pretrained(folder)
    pixels = processor(images=photos(), return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        features = model.get_image_features(pixel_values=pixels)
    features = getattr(features, "pooler_output", features)
    reference = torch.nn.functional.normalize(features, dim=-1).numpy()
    assert ours.shape == reference.shape == (2, size)
    assert np.allclose(ours, reference, atol=1e-5)
    assert backend.space == f"{family}:{folder}"  # type: ignore[attr-defined]


def _reference_captions(model: object, processor: object, tokenizer: object, generation: Generation) -> list[str]:
    pixels = processor(images=photos(), return_tensors="pt")["pixel_values"]  # type: ignore[operator]
    with torch.inference_mode():
        tokens = model.generate(pixel_values=pixels, max_new_tokens=generation.max_new_tokens,  # type: ignore[attr-defined]
                                num_beams=generation.num_beams, do_sample=False)
    return [text.strip() for text in tokenizer.batch_decode(tokens, skip_special_tokens=True)]  # type: ignore[attr-defined]


def test_blip_captions_equal_blip_generate() -> None:
    from transformers import BlipForConditionalGeneration, BlipProcessor

    folder = str(tiny_blip_dir())
    backend = loaded(BlipCaptioner, "blip", folder)
    ours = backend.caption([ImageItem(image, generation=SHORT) for image in photos()])  # type: ignore[attr-defined]
    processor = BlipProcessor.from_pretrained(folder)
    model = BlipForConditionalGeneration.from_pretrained(folder).eval()
    assert ours == _reference_captions(model, processor.image_processor, processor.tokenizer, SHORT)
    assert all(isinstance(text, str) and text for text in ours)


def test_vit_gpt2_captions_equal_vision_encoder_decoder_generate() -> None:
    from transformers import AutoImageProcessor, AutoTokenizer, VisionEncoderDecoderModel

    folder = str(tiny_vit_gpt2_dir())
    backend = loaded(VisionEncoderDecoderCaptioner, "vision-encoder-decoder", folder)
    beams = Generation(max_new_tokens=5, num_beams=2)
    ours = backend.caption([ImageItem(image, generation=beams) for image in photos()])  # type: ignore[attr-defined]
    model = VisionEncoderDecoderModel.from_pretrained(folder).eval()
    reference = _reference_captions(model, AutoImageProcessor.from_pretrained(folder),
                                    AutoTokenizer.from_pretrained(folder), beams)
    assert ours == reference


@pytest.mark.parametrize("tokens", [1, 3])
def test_caption_length_is_bounded_by_max_new_tokens(tokens: int) -> None:
    backend = loaded(BlipCaptioner, "blip", str(tiny_blip_dir()))
    caption = backend.caption([ImageItem(photos()[0], generation=Generation(tokens, 1))])[0]  # type: ignore[attr-defined]
    assert len(backend.tokenizer(caption, add_special_tokens=False)["input_ids"]) <= tokens  # type: ignore[attr-defined]


def test_jobs_with_different_bounds_in_one_batch_answer_as_alone() -> None:
    backend = loaded(BlipCaptioner, "blip", str(tiny_blip_dir()))
    cat, coffee = photos()
    jobs = [ImageItem(cat, generation=Generation(2, 1)), ImageItem(coffee, generation=SHORT),
            ImageItem(coffee, generation=Generation(2, 1))]
    together = backend.caption(jobs)  # type: ignore[attr-defined]
    alone = [backend.caption([job])[0] for job in jobs]  # type: ignore[attr-defined]
    assert together == alone
