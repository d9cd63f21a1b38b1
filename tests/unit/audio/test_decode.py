"""Decoding: every container through FFmpeg, mono mixdown, soxr resampling, limits and bad input as 4xx."""

from __future__ import annotations

import numpy as np
import pytest

from servekit.errors import InvalidInput, PayloadTooLarge
from services.audio.decode import AudioLimits, decode_audio
from tests.support.media import FORMATS, encode_audio, wav_bytes

LIMITS = AudioLimits(max_duration_s=30.0)


def _tone(frequency: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_decodes_to_the_right_length_and_pitch(fmt: str) -> None:
    tone = _tone(440.0, 2.0, 22050)
    audio = decode_audio(encode_audio(tone, 22050, fmt), target_rate=16000, limits=LIMITS)
    assert audio.sample_rate == 16000 and audio.samples.dtype == np.float32
    assert audio.duration_s == pytest.approx(2.0, abs=0.06)  # AAC/Opus priming may add a frame
    assert _peak_hz(audio.samples, 16000) == pytest.approx(440.0, abs=2.0)


def test_resampling_keeps_a_tone_below_the_new_nyquist_and_removes_one_above() -> None:
    rate = 48000
    mixed = _tone(1000.0, 1.0, rate) + _tone(12000.0, 1.0, rate)  # 12 kHz cannot exist at 16 kHz
    audio = decode_audio(wav_bytes(mixed / 2, rate), target_rate=16000, limits=LIMITS)
    spectrum = np.abs(np.fft.rfft(audio.samples))
    freqs = np.fft.rfftfreq(len(audio.samples), 1 / 16000)
    at_1k = spectrum[np.argmin(np.abs(freqs - 1000))]
    assert _peak_hz(audio.samples, 16000) == pytest.approx(1000.0, abs=2.0)
    assert spectrum[np.argmin(np.abs(freqs - 4000))] < at_1k * 0.01  # no alias of 12 kHz folded to 4 kHz


def test_channels_are_averaged_to_mono() -> None:
    left = _tone(300.0, 1.0, 16000)
    stereo = np.stack([left, -left], axis=1)  # opposite phase: the mixdown is silence
    import io

    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, stereo, 16000, format="WAV", subtype="FLOAT")
    audio = decode_audio(buffer.getvalue(), target_rate=16000, limits=LIMITS)
    assert audio.channels == 2 and np.abs(audio.samples).max() < 1e-5
    same = decode_audio(wav_bytes(left, 16000, channels=8, subtype="FLOAT"), target_rate=16000, limits=LIMITS)
    assert same.channels == 8 and np.abs(same.samples - left).max() < 1e-6


def test_integer_formats_are_scaled_to_unit_range() -> None:
    tone = _tone(200.0, 0.5, 16000)
    for subtype in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"):
        data = wav_bytes(tone, 16000, subtype=subtype)
        audio = decode_audio(data, target_rate=16000, limits=LIMITS)
        assert np.abs(audio.samples).max() == pytest.approx(0.5, abs=0.02), subtype


def test_duration_limit_names_its_code() -> None:
    long_limits = AudioLimits(max_duration_s=1.0, too_long_code="audio_too_long_for_sync", too_long_hint="use jobs")
    with pytest.raises(PayloadTooLarge) as caught:
        decode_audio(wav_bytes(np.zeros(32000, np.float32), 16000), target_rate=16000, limits=long_limits)
    assert caught.value.code == "audio_too_long_for_sync" and "use jobs" in caught.value.message


@pytest.mark.parametrize(("data", "code"), [
    (b"", "empty_input"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "invalid_audio"),
    (bytes(range(256)) * 40, "invalid_audio"),
])
def test_undecodable_bytes_are_400(data: bytes, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_audio(data, target_rate=16000, limits=LIMITS, param="input[2]")
    assert caught.value.code == code and caught.value.param == "input[2]"


def test_sample_rate_and_channel_limits() -> None:
    strict = AudioLimits(max_duration_s=30.0, min_sample_rate=8000, max_channels=2)
    with pytest.raises(InvalidInput) as rate:
        decode_audio(wav_bytes(np.zeros(4000, np.float32), 4000), target_rate=16000, limits=strict)
    assert rate.value.code == "unsupported_sample_rate"
    with pytest.raises(InvalidInput) as channels:
        decode_audio(wav_bytes(np.zeros(800, np.float32), 8000, channels=3), target_rate=16000, limits=strict)
    assert channels.value.code == "too_many_channels"
