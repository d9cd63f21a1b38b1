"""Image captioning with a generative model: BLIP and VisionEncoderDecoder (ViT-GPT2 and kin).

Pixels come from the checkpoint's own image processor and text from its own tokenizer. Generation is
bounded by the service's configuration (new tokens, beams); the items of one batch that agree on those
bounds share one ``generate`` call.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import defaultdict
from typing import Any

from servekit.models import resolve_source
from services.vision.backends.base import ImageBackend
from services.vision.items import Generation, ImageItem

DEFAULT_GENERATION = Generation(max_new_tokens=30, num_beams=1)


class Captioner(ImageBackend):
    """``caption``: one string per image."""

    tasks = frozenset({"caption"})
    processor: Any
    tokenizer: Any
    model: Any

    @abstractmethod
    def load_parts(self, source: str) -> None:
        """Set ``processor`` (pixels), ``tokenizer`` (decoding) and ``model`` from a checkpoint folder or id."""

    def load(self) -> None:
        self.load_parts(resolve_source(self.spec.source))
        self.model = self.model.to(self.placement.device).eval()

    def caption(self, items: list[ImageItem]) -> list[str]:
        groups: dict[Generation, list[int]] = defaultdict(list)
        for index, item in enumerate(items):
            groups[item.generation or DEFAULT_GENERATION].append(index)
        captions = [""] * len(items)
        for generation, indices in groups.items():
            texts = self._generate([items[i] for i in indices], generation)
            for index, text in zip(indices, texts, strict=True):
                captions[index] = text
        return captions

    def _generate(self, items: list[ImageItem], generation: Generation) -> list[str]:
        import torch

        with self.stage("preprocess", len(items)):
            pixels = self.to_device(self.processor(images=self.images(items), return_tensors="pt")["pixel_values"])
        with self.stage("forward", len(items)), torch.inference_mode():
            tokens = self.model.generate(pixel_values=pixels, max_new_tokens=generation.max_new_tokens,
                                         num_beams=generation.num_beams, do_sample=False)
        with self.stage("postprocess", len(items)):
            texts = self.tokenizer.batch_decode(tokens, skip_special_tokens=True)
        return [text.strip() for text in texts]


class BlipCaptioner(Captioner):
    """``BlipForConditionalGeneration`` with its ``BlipProcessor`` (e.g. Salesforce/blip-image-captioning-base)."""

    def load_parts(self, source: str) -> None:
        from transformers import BlipForConditionalGeneration, BlipProcessor

        processor = BlipProcessor.from_pretrained(source)
        self.processor, self.tokenizer = processor.image_processor, processor.tokenizer
        self.model = BlipForConditionalGeneration.from_pretrained(source, dtype=self.placement.dtype)


class VisionEncoderDecoderCaptioner(Captioner):
    """``VisionEncoderDecoderModel`` (e.g. nlpconnect/vit-gpt2-image-captioning) with its processor and tokenizer."""

    def load_parts(self, source: str) -> None:
        from transformers import AutoImageProcessor, AutoTokenizer, VisionEncoderDecoderModel

        self.processor = AutoImageProcessor.from_pretrained(source)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = VisionEncoderDecoderModel.from_pretrained(source, dtype=self.placement.dtype)
