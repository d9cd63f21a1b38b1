"""Video intake on real videos synthesized with PyAV: every accepted container, frame sampling by rate and on
scene changes, the audio track at 16 kHz, and each bad video refused with its own 4xx code, from the header or
while decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from servekit.errors import ApiError
from services.fusion.video.decoding import (
    AUDIO_RATE,
    Sampling,
    VideoLimits,
    decode_audio_track,
    decode_video,
    probe,
)
from tests.support.videos import (
    Line,
    Scene,
    VideoSpec,
    bad_video_corpus,
    lying_duration_mkv,
    make_video,
    short_video,
)

LIMITS = VideoLimits(max_duration_s=3600, max_width=3840, max_height=2160, max_frames=4000,
                     max_decoded_frames=3600 * 120)
RATE_ONLY = Sampling(frame_rate=1.0, scene_threshold=0.0, max_side=256)
SCENES = VideoSpec((Scene("coffee", 2.5), Scene("chelsea", 2.5), Scene("rocket", 2.0)),
                   (Line("Hello from the video.", 1.0),))


def _file(tmp_path: Path, data: bytes, name: str = "video") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("fmt", ["mp4", "mov", "mkv", "webm"])
def test_every_accepted_container_decodes_with_its_audio_track(tmp_path: Path, fmt: str) -> None:
    spec = VideoSpec(SCENES.scenes, SCENES.lines, fmt=fmt)
    path = _file(tmp_path, make_video(spec))
    assert probe(path, LIMITS).width == 320
    decoded = decode_video(path, LIMITS, RATE_ONLY)
    assert abs(decoded.duration_s - 7.0) < 0.2
    assert [f.t for f in decoded.frames] == pytest.approx([0, 1, 2, 3, 4, 5, 6], abs=0.11)
    samples = decode_audio_track(path, 3600)
    assert samples is not None and samples.dtype == np.float32
    assert abs(len(samples) / AUDIO_RATE - 7.0) < 0.3
    speaking = np.abs(samples[int(1.2 * AUDIO_RATE):int(1.8 * AUDIO_RATE)]).max()
    silent = np.abs(samples[int(5.5 * AUDIO_RATE):int(6.5 * AUDIO_RATE)]).max()
    assert speaking > 0.05 > silent


def test_scene_changes_are_sampled_between_rate_samples(tmp_path: Path) -> None:
    path = _file(tmp_path, make_video(SCENES))
    decoded = decode_video(path, LIMITS, Sampling(frame_rate=0.25, scene_threshold=0.1, max_side=256))
    changes = [f.t for f in decoded.frames if f.scene_change]
    assert changes == pytest.approx([2.5, 5.0], abs=0.11)
    assert [f.t for f in decoded.frames if not f.scene_change] == pytest.approx([0.0, 4.0], abs=0.11)


def test_a_video_without_sound_has_no_track(tmp_path: Path) -> None:
    assert decode_audio_track(_file(tmp_path, short_video()), 3600) is None


@pytest.mark.parametrize("name", [name for name in bad_video_corpus() if name != "empty"])  # empty: the intake's
def test_bad_videos_are_refused_from_the_header_or_the_packets(tmp_path: Path, name: str) -> None:
    data, status, code = bad_video_corpus()[name]
    with pytest.raises(ApiError) as refused:
        probe(_file(tmp_path, data), LIMITS)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_a_header_that_understates_the_duration_cannot_make_decoding_run_past_the_limit(tmp_path: Path) -> None:
    """The header says 1 s; the file holds 8 s; the limit is 3 s: decoding stops with 413 at about 4 s."""
    spec = VideoSpec((Scene("coffee", 4.0), Scene("rocket", 4.0)), fmt="mkv")
    data = make_video(spec)
    lying = lying_duration_mkv(hours=1.0 / 3600, data=data)
    limits = VideoLimits(3.0, 3840, 2160, 4000, 3 * 120)
    path = _file(tmp_path, lying)
    with pytest.raises(ApiError) as refused:
        decode_video(path, limits, RATE_ONLY)
    assert (refused.value.status, refused.value.code) == (413, "video_too_long")


@pytest.mark.parametrize(("limits", "code"), [
    (VideoLimits(3600, 160, 120, 4000, 10_000), "video_resolution_too_large"),
    (VideoLimits(3600, 3840, 2160, 3, 10_000), "video_too_many_frames"),
    (VideoLimits(3600, 3840, 2160, 4000, 20), "video_too_many_frames"),
])
def test_limits_on_size_and_frames_hold_while_decoding(tmp_path: Path, limits: VideoLimits, code: str) -> None:
    path = _file(tmp_path, make_video(SCENES))
    with pytest.raises(ApiError) as refused:
        decode_video(path, limits, RATE_ONLY)
    assert (refused.value.status, refused.value.code) == (413, code)
