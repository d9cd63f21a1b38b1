"""CLIP, BLIP and ViT-GPT2 served from local model folders (tiny random checkpoints) through the full HTTP path.

The CLIP checks run both services: the text service's CLIP text tower and the vision service's image tower of
one checkpoint share a space id, and their vectors equal ``CLIPModel``'s own, computed in-process.
"""

from __future__ import annotations

import io
import re
import threading

import numpy as np
import pytest
import torch
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from servekit.models import ModelSpec
from services.vision.app import create_app
from services.vision.settings import VisionSettings
from tests.support.media import data_uri, photo_png
from tests.support.tiny_models import tiny_blip_dir, tiny_clip_dir, tiny_siglip_dir, tiny_vit_gpt2_dir

PHOTOS = ("chelsea", "coffee", "astronaut")


@pytest.fixture(scope="module")
def app() -> Flask:
    models = [
        ModelSpec(name="tiny-clip", backend="clip-vision", source=str(tiny_clip_dir())),
        ModelSpec(name="tiny-blip", backend="blip", source=str(tiny_blip_dir())),
        ModelSpec(name="tiny-vit-gpt2", backend="vision-encoder-decoder", source=str(tiny_vit_gpt2_dir())),
        ModelSpec(name="tiny-siglip", backend="siglip-vision", source=str(tiny_siglip_dir())),
    ]
    settings = VisionSettings(models=models, max_wait_ms=150, caption_max_new_tokens=8,
                              caption_max_new_tokens_limit=12, caption_num_beams_limit=2)
    app = create_app(settings, load_in_background=False)
    assert app.extensions["pool"].ready
    return app


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def clip():  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    folder = tiny_clip_dir()
    return (CLIPModel.from_pretrained(folder).eval(), CLIPImageProcessor.from_pretrained(folder),
            AutoTokenizer.from_pretrained(folder))


def images() -> list[Image.Image]:
    return [Image.open(io.BytesIO(photo_png(name))).convert("RGB") for name in PHOTOS]


def _features(output: object) -> torch.Tensor:
    tensor = getattr(output, "pooler_output", output)
    return torch.nn.functional.normalize(tensor, dim=-1)  # type: ignore[arg-type]


def test_image_embeddings_equal_clip_model_in_process(client: FlaskClient, clip) -> None:  # type: ignore[no-untyped-def]
    model, processor, _ = clip
    body = client.post("/v1/embed", json={"input": [data_uri(photo_png(n)) for n in PHOTOS]}).get_json()
    assert body["space"] == f"clip:{tiny_clip_dir()}" and body["dimensions"] == 16
    with torch.inference_mode():
        reference = _features(model.get_image_features(
            pixel_values=processor(images=images(), return_tensors="pt")["pixel_values"])).numpy()
    assert np.allclose([item["embedding"] for item in body["data"]], reference, atol=1e-5)


def test_text_and_image_towers_share_one_space_across_services(client: FlaskClient, clip) -> None:  # type: ignore[no-untyped-def]
    from services.text.app import create_app as create_text_app
    from services.text.settings import TextSettings

    model, processor, tokenizer = clip
    text_app = create_text_app(TextSettings(models=[ModelSpec(name="tiny-clip", backend="clip-text",
                                                              source=str(tiny_clip_dir()))]),
                               load_in_background=False)
    texts = ["a photo of a cat", "a cup of coffee"]
    text_body = text_app.test_client().post("/v1/embed", json={"input": texts}).get_json()
    image_body = client.post("/v1/embed", json={"input": [data_uri(photo_png("chelsea"))]}).get_json()
    assert text_body["space"] == image_body["space"] == f"clip:{tiny_clip_dir()}"
    with torch.inference_mode():
        text_ref = _features(model.get_text_features(**tokenizer(texts, padding=True, return_tensors="pt")))
        image_ref = _features(model.get_image_features(
            pixel_values=processor(images=images()[:1], return_tensors="pt")["pixel_values"]))
    text_vectors = np.array([item["embedding"] for item in text_body["data"]])
    image_vector = np.array(image_body["data"][0]["embedding"])
    assert np.allclose(text_vectors, text_ref.numpy(), atol=1e-5)
    assert np.allclose(text_vectors @ image_vector, (text_ref @ image_ref.T).numpy()[:, 0], atol=1e-5)


def test_siglip_is_served_in_its_own_space(client: FlaskClient) -> None:
    from transformers import SiglipImageProcessor, SiglipModel

    body = client.post("/v1/embed", json={"model": "tiny-siglip", "input": data_uri(photo_png("chelsea"))}).get_json()
    assert (body["space"], body["dimensions"]) == (f"siglip:{tiny_siglip_dir()}", 32)
    model = SiglipModel.from_pretrained(tiny_siglip_dir()).eval()
    pixels = SiglipImageProcessor.from_pretrained(tiny_siglip_dir())(images=images()[:1], return_tensors="pt")
    with torch.inference_mode():
        reference = _features(model.get_image_features(pixel_values=pixels["pixel_values"])).numpy()
    assert np.allclose(body["data"][0]["embedding"], reference[0], atol=1e-5)


def _reference_captions(folder: object, model_cls: str, max_new_tokens: int, num_beams: int) -> list[str]:
    import transformers

    model = getattr(transformers, model_cls).from_pretrained(folder).eval()
    processor = transformers.AutoProcessor.from_pretrained(folder) if model_cls.startswith("Blip") else None
    pixels_of = processor.image_processor if processor else transformers.AutoImageProcessor.from_pretrained(folder)
    tokenizer = processor.tokenizer if processor else transformers.AutoTokenizer.from_pretrained(folder)
    pixels = pixels_of(images=images(), return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        tokens = model.generate(pixel_values=pixels, max_new_tokens=max_new_tokens, num_beams=num_beams,
                                do_sample=False)
    return [text.strip() for text in tokenizer.batch_decode(tokens, skip_special_tokens=True)]


def test_blip_captions_by_multipart_equal_generate_in_process(client: FlaskClient) -> None:
    files = [(io.BytesIO(photo_png(name)), f"{name}.png") for name in PHOTOS]
    response = client.post("/v1/caption", data={"file": files, "model": "tiny-blip"},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    captions = [item["caption"] for item in response.get_json()["data"]]
    assert captions == _reference_captions(tiny_blip_dir(), "BlipForConditionalGeneration", 8, 1)


def test_vit_gpt2_captions_with_requested_bounds_equal_generate(client: FlaskClient) -> None:
    body = {"model": "tiny-vit-gpt2", "input": [data_uri(photo_png(n)) for n in PHOTOS], "max_new_tokens": 4,
            "num_beams": 2}
    answer = client.post("/v1/caption", json=body).get_json()
    assert answer["model"] == "tiny-vit-gpt2"
    captions = [item["caption"] for item in answer["data"]]
    assert captions == _reference_captions(tiny_vit_gpt2_dir(), "VisionEncoderDecoderModel", 4, 2)


@pytest.mark.parametrize(("field", "value"), [("max_new_tokens", 13), ("num_beams", 3), ("max_new_tokens", 0)])
def test_generation_is_bounded_by_configuration(client: FlaskClient, field: str, value: int) -> None:
    response = client.post("/v1/caption", json={"input": data_uri(photo_png("chelsea")), field: value})
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == field


def test_first_captioner_is_the_default_and_embedders_do_not_caption(client: FlaskClient) -> None:
    answer = client.post("/v1/caption", json={"input": data_uri(photo_png("chelsea"))}).get_json()
    assert answer["model"] == "tiny-blip"
    refused = client.post("/v1/caption", json={"input": data_uri(photo_png("chelsea")), "model": "tiny-clip"})
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (400, "unsupported_task")


def test_concurrent_requests_share_forward_passes(app: Flask, client: FlaskClient) -> None:
    def batches() -> tuple[float, float]:
        text = client.get("/metrics").get_data(as_text=True)
        values = [float(re.search(rf'^batch_size_{kind}{{model="tiny-clip",service="vision"}} (\S+)$', text,
                                  re.M).group(1)) for kind in ("count", "sum")]  # type: ignore[union-attr]
        return values[0], values[1]

    before = batches()
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def one() -> None:
        local = app.test_client()
        barrier.wait()
        statuses.append(local.post("/v1/embed", json={"input": data_uri(photo_png("coffee"))}).status_code)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    after = batches()
    assert statuses == [200] * 6
    passes, items = after[0] - before[0], after[1] - before[1]
    assert items == 6 and passes < 6  # at least two requests met in one forward pass
