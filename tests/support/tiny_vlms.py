"""Tiny randomly initialised visual question answering and image-text-to-text checkpoints, as model folders.

One per supported architecture (BLIP VQA, LLaVA, Idefics3 / SmolVLM's family, PaliGemma), built from transformers
configs with a byte-level tokenizer (any text encodes) plus each architecture's special tokens, written with
``save_pretrained`` and loaded by the service through ``AutoProcessor`` / ``AutoModelForImageTextToText``. The
chat models end a sequence only on a dedicated ``<pad>`` token, so their answers run to ``max_new_tokens``
unless the random weights pick it: long generations are there to cancel.
Qwen2-VL is left out here: its processor needs torchvision, whose only wheel for this torch is a CUDA build.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from tests.support.tiny_models import _ROOT, TINY_IMAGE, _bert_tokenizer, _gpt2_tokenizer, _tower

# A generic chat template: "role: parts" lines, images as the architecture's image placeholder.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for p in m['content'] %}{% if p['type'] == 'image' %}IMAGE{% else %}{{ p['text'] }}{% endif %}"
    "{% endfor %}{% endif %}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)
CHAT_ARCHITECTURES = ("llava", "idefics3", "paligemma")


def _tokenizer(specials: list[str]) -> Any:
    tokenizer: Any = _gpt2_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": specials, "pad_token": "<pad>"})
    return tokenizer


def _text_config(tokenizer: Any, model_type: str = "llama", **extra: Any) -> dict[str, Any]:
    return {"model_type": model_type, "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 37,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 4096, "bos_token_id": tokenizer.bos_token_id, "eos_token_id": None,
            "pad_token_id": tokenizer.pad_token_id, **extra}


def _save(folder: Path, model: Any, processor: Any) -> Path:
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.eval().save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@cache
def tiny_blip_vqa_dir() -> Path:
    """A random ``BlipForQuestionAnswering`` with its BlipProcessor (BERT tokenizer)."""
    import torch
    from transformers import BlipConfig, BlipForQuestionAnswering, BlipImageProcessor, BlipProcessor

    torch.manual_seed(0)
    tokenizer: Any = _bert_tokenizer()
    text = _tower(vocab_size=len(tokenizer), max_position_embeddings=64, encoder_hidden_size=32,
                  bos_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id,
                  eos_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id)
    model = BlipForQuestionAnswering(BlipConfig(text_config=text, vision_config=_tower(image_size=TINY_IMAGE,
                                                                                       patch_size=8)))
    folder = _ROOT / "tiny-blip-vqa"
    model.eval().save_pretrained(folder)
    BlipProcessor(BlipImageProcessor(size={"height": TINY_IMAGE, "width": TINY_IMAGE}), tokenizer).save_pretrained(
        folder)
    return folder


@cache
def tiny_llava_dir() -> Path:
    import torch
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    torch.manual_seed(0)
    tokenizer = _tokenizer(["<image>"])
    vision = {"model_type": "clip_vision_model", **_tower(image_size=TINY_IMAGE, patch_size=8)}
    config = LlavaConfig(vision_config=vision, text_config=_text_config(tokenizer), vision_feature_layer=-1,
                         vision_feature_select_strategy="default",
                         **{"image_token_id": tokenizer.convert_tokens_to_ids("<image>")})
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": TINY_IMAGE},
                                           crop_size={"height": TINY_IMAGE, "width": TINY_IMAGE}),
        tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE.replace("IMAGE", "<image>"))
    return _save(_ROOT / "tiny-llava", LlavaForConditionalGeneration(config), processor)


def idefics3_dir(folder: Path, text: dict[str, Any], vision: dict[str, Any], *, scale_factor: int, image_side: int,
                 image_seq_len: int, splitting: bool = True) -> Path:
    """An Idefics3 checkpoint (SmolVLM's architecture) of any size, random weights, as a model folder."""
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    torch.manual_seed(0)
    tokenizer = _tokenizer(["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]
                           + [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)])
    config = Idefics3Config(text_config={**_text_config(tokenizer), **text}, scale_factor=scale_factor,
                            vision_config=vision, image_token_id=tokenizer.convert_tokens_to_ids("<image>"))
    images = Idefics3ImageProcessorPil(size={"longest_edge": 2 * image_side}, do_image_splitting=splitting,
                                       max_image_size={"longest_edge": image_side})
    processor = Idefics3Processor(image_processor=images, tokenizer=tokenizer, image_seq_len=image_seq_len,
                                  chat_template=CHAT_TEMPLATE.replace("IMAGE", "<image>"))
    return _save(folder, Idefics3ForConditionalGeneration(config), processor)


@cache
def tiny_idefics3_dir() -> Path:
    """Idefics3, the architecture of SmolVLM (image splitting on, 32-pixel tiles)."""
    return idefics3_dir(_ROOT / "tiny-idefics3", {}, _tower(image_size=TINY_IMAGE, patch_size=8), scale_factor=2,
                        image_side=TINY_IMAGE, image_seq_len=4)


@cache
def tiny_paligemma_dir() -> Path:
    """PaliGemma: no chat template (plain prompts); the processor puts the image tokens in front."""
    import torch
    from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    torch.manual_seed(0)
    tokenizer = _tokenizer(["<image>"])
    tokenizer.bos_token = "<pad>"
    config = PaliGemmaConfig(text_config=_text_config(tokenizer, "gemma", head_dim=8), projection_dim=32,
                             vision_config={**_tower(image_size=TINY_IMAGE, patch_size=8), "projection_dim": 32},
                             **{"image_token_id": tokenizer.convert_tokens_to_ids("<image>")})
    images = SiglipImageProcessorPil(size={"height": TINY_IMAGE, "width": TINY_IMAGE})
    images.image_seq_length = (TINY_IMAGE // 8) ** 2  # type: ignore[attr-defined]
    return _save(_ROOT / "tiny-paligemma", PaliGemmaForConditionalGeneration(config),
                 PaliGemmaProcessor(image_processor=images, tokenizer=tokenizer))


def chat_model_dir(architecture: str) -> Path:
    builders = {"llava": tiny_llava_dir, "idefics3": tiny_idefics3_dir, "paligemma": tiny_paligemma_dir}
    return builders[architecture]()
