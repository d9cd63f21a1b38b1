"""The offline defaults with their real weights: EfficientNet-Lite0 (labels, features) and RapidOCR."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from servekit.device import Placement
from servekit.models import ModelSpec
from services.vision.backends.efficientnet import IMAGENET_MEAN, IMAGENET_STD, EfficientNetLite
from services.vision.backends.rapidocr import RapidOcrReader, pad_to_aspect, reading_rows
from services.vision.items import ImageItem, TextLine
from services.vision.labels import load_labels
from services.vision.settings import EFFICIENTNET_LITE0, RAPIDOCR
from tests.support.media import photo_png, render_text

CPU = Placement("cpu", "float32")


def photo(name: str) -> Image.Image:
    return Image.open(io.BytesIO(photo_png(name))).convert("RGB")


@pytest.fixture(scope="module")
def efficientnet() -> EfficientNetLite:
    backend = EfficientNetLite(EFFICIENTNET_LITE0, CPU)
    backend.load()
    return backend


@pytest.fixture(scope="module")
def ocr() -> RapidOcrReader:
    backend = RapidOcrReader(RAPIDOCR, CPU)
    backend.load()
    return backend


def test_shipped_imagenet_names_are_the_thousand_classes_in_order() -> None:
    labels = load_labels()
    assert len(labels) == len(set(labels)) == 1000
    assert (labels[0], labels[285], labels[967], labels[968], labels[999]) == (
        "tench", "Egyptian cat", "espresso", "cup", "toilet tissue")


def test_chelsea_is_a_cat(efficientnet: EfficientNetLite) -> None:
    labels = efficientnet.classify([ImageItem(photo("chelsea"), top_k=3)])[0]
    assert len(labels) == 3 and any("cat" in item.label for item in labels)
    assert "cat" in labels[0].label
    assert labels[0].score > labels[1].score > labels[2].score > 0


def test_coffee_is_espresso_or_a_cup(efficientnet: EfficientNetLite) -> None:
    labels = efficientnet.classify([ImageItem(photo("coffee"), top_k=3)])[0]
    assert {"espresso", "cup"} & {item.label for item in labels}


def test_a_batch_answers_like_single_images(efficientnet: EfficientNetLite) -> None:
    jobs = [ImageItem(photo("chelsea"), top_k=2), ImageItem(photo("coffee"), top_k=4)]
    together = efficientnet.classify(jobs)
    alone = [efficientnet.classify([job])[0] for job in jobs]
    assert [len(labels) for labels in together] == [2, 4]
    for batch_labels, single_labels in zip(together, alone, strict=True):
        assert [item.label for item in batch_labels] == [item.label for item in single_labels]
        assert np.allclose([item.score for item in batch_labels], [item.score for item in single_labels],
                           atol=1e-5)


def test_features_find_the_same_photo_again(efficientnet: EfficientNetLite) -> None:
    cat, coffee = photo("chelsea"), photo("coffee")
    recompressed = Image.open(io.BytesIO(_jpeg(cat.resize((200, 150))))).convert("RGB")
    vectors = efficientnet.embed([ImageItem(cat), ImageItem(recompressed), ImageItem(coffee)])
    assert all(vector.shape == (efficientnet.dimensions,) for vector in vectors)
    assert np.allclose([np.linalg.norm(v) for v in vectors], 1.0, atol=1e-5)
    same, other = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert same > 0.8 and same > other + 0.2


def _vectors_as_before(backend: EfficientNetLite, images: list[Image.Image]) -> np.ndarray:
    """The vectors as the batch path made them before pixels moved into ``prepare``: float32 pixels of the whole
    batch resized, scaled and normalised on the model's thread."""
    arrays = [np.asarray(image.resize((224, 224), Image.Resampling.BILINEAR), dtype=np.float32) for image in images]
    batch = (np.stack(arrays) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    pixels = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32))
    with torch.inference_mode():
        features = backend.model.extract_features(pixels).float().mean(dim=(2, 3))
    return torch.nn.functional.normalize(features, p=2, dim=-1).numpy()


@pytest.mark.parametrize("task", ["embed", "classify"])
def test_prepare_resizes_in_the_callers_thread_and_changes_no_output(efficientnet: EfficientNetLite, task: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    items = [ImageItem(photo("chelsea"), top_k=3), ImageItem(photo("coffee"), top_k=3)]
    direct = efficientnet.predict(task, items)
    prepared = efficientnet.prepare(task, items)
    assert all(item.pixels is not None and item.pixels.shape == (224, 224, 3) for item in prepared)

    def no_resize_on_the_model_thread(image: Image.Image) -> np.ndarray:
        raise AssertionError("prepared items were resized again")

    monkeypatch.setattr(efficientnet, "image_pixels", no_resize_on_the_model_thread)
    served = efficientnet.predict(task, prepared)
    if task == "embed":
        assert np.array_equal(np.stack(served), np.stack(direct))
        assert np.allclose(np.stack(served), _vectors_as_before(efficientnet, [i.image for i in items]), atol=1e-6)
    else:
        assert [[(label.label, label.score) for label in labels] for labels in served] == \
            [[(label.label, label.score) for label in labels] for labels in direct]


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def test_ocr_reads_a_rendered_sentence(ocr: RapidOcrReader) -> None:
    result = ocr.ocr([ImageItem(render_text(["Hello World 2026"]))])[0]
    assert result.text == "Hello World 2026"
    line = result.lines[0]
    assert line.confidence > 0.8 and len(line.box) == 4
    xs, ys = [p[0] for p in line.box], [p[1] for p in line.box]
    assert 0 <= min(xs) < max(xs) and 0 <= min(ys) < max(ys)


def test_ocr_keeps_the_reading_order_of_several_lines(ocr: RapidOcrReader) -> None:
    result = ocr.ocr([ImageItem(render_text(["The quick brown fox", "jumps over the lazy dog"]))])[0]
    assert result.text.splitlines() == ["The quick brown fox", "jumps over the lazy dog"]


def test_ocr_of_a_blank_image_is_empty(ocr: RapidOcrReader) -> None:
    result = ocr.ocr([ImageItem(Image.new("RGB", (1, 1), "white"))])[0]
    assert (result.text, result.lines) == ("", [])


def test_words_on_one_row_are_joined_left_to_right() -> None:
    def line(text: str, x: float, y: float) -> TextLine:
        return TextLine(text, 0.9, [[x, y], [x + 50, y], [x + 50, y + 20], [x, y + 20]])

    rows = reading_rows([line("fox", 200, 52), line("below", 0, 100), line("quick", 0, 50)])
    assert [[item.text for item in row] for row in rows] == [["quick", "fox"], ["below"]]


def test_classifier_refuses_a_label_file_of_the_wrong_size(tmp_path) -> None:  # type: ignore[no-untyped-def]
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    spec = ModelSpec(**{**EFFICIENTNET_LITE0.model_dump(), "options": {"labels": str(labels)}})
    with pytest.raises(ValueError, match="2 labels"):
        EfficientNetLite(spec, CPU).load()


def test_long_thin_images_are_padded_not_blown_up(ocr: RapidOcrReader) -> None:
    padded = pad_to_aspect(Image.new("RGB", (4, 300), "black"), 4.0)
    assert padded.size == (75, 300) and padded.getpixel((0, 299)) == (0, 0, 0)
    assert padded.getpixel((74, 0)) == (255, 255, 255)
    strip = render_text(["Hello World 2026"]).crop((0, 0, 700, 80))
    banner = Image.new("RGB", (1900, 80), "white")
    banner.paste(strip, (0, 0))  # about 24:1, text at the left
    result = ocr.ocr([ImageItem(banner)])[0]
    assert "".join(result.text.split()) == "HelloWorld2026"  # word spacing is the recogniser's weak point
    assert max(point[0] for point in result.lines[0].box) < 700
