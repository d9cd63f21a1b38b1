"""Video search benchmark: decoding alone, and a whole video ingest job, on the real offline models.

1. Decoding: PyAV decodes a synthesized H.264 video once, sampling 1 frame/s plus scene changes (no encoder).
2. Ingest: the text, vision, audio and fusion services run as processes; videos of several lengths (photos of
   scikit-image, 5 s per scene, a spoken sentence every 10 s) are uploaded as jobs and polled to the end. Printed:
   wall time, frames, segments, and the real-time factor (seconds of work per second of video).

Run: ``python bench/bench_video.py`` (``--lengths 20,60``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from services.fusion.video.decoding import Sampling, VideoLimits, decode_video  # noqa: E402
from tests.support.processes import INTERNAL_TOKEN, ServiceProcess, start_service  # noqa: E402
from tests.support.videos import Line, Scene, VideoSpec, make_video  # noqa: E402

HEADERS = {"X-Internal-Token": INTERNAL_TOKEN}
PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")
SENTENCES = ("The train to the airport leaves at seven.", "Fresh bread from the bakery every morning.")


def video_of(seconds: int) -> VideoSpec:
    scenes = tuple(Scene(PHOTOS[k % len(PHOTOS)], 5) for k in range(seconds // 5))
    lines = tuple(Line(SENTENCES[k % len(SENTENCES)], 10.0 * k + 1) for k in range(seconds // 10))
    return VideoSpec(scenes, lines)


def bench_decoding(seconds: int, directory: Path) -> None:
    path = directory / f"decode-{seconds}.mp4"
    path.write_bytes(make_video(video_of(seconds)))
    limits = VideoLimits(3600, 3840, 2160, 4000, 3600 * 120)
    started = time.perf_counter()
    decoded = decode_video(path, limits, Sampling(1.0, 0.25, 512))
    took = time.perf_counter() - started
    print(f"| decode {seconds} s of 320x240 H.264 at 10 fps | {1000 * took:.0f} ms | {len(decoded.frames)} frames |")


def bench_ingest(fusion: ServiceProcess, seconds: int) -> None:
    data = make_video(video_of(seconds))
    started = time.perf_counter()
    answer = requests.post(fusion.url + "/v1/collections/bench/videos", data=data, headers={
        **HEADERS, "Content-Type": "video/mp4"}, params={"video_id": f"v{seconds}"}, timeout=300)
    answer.raise_for_status()
    job = answer.json()
    while job["status"] in ("queued", "running"):
        time.sleep(0.25)
        job = requests.get(fusion.url + f"/v1/collections/bench/video_jobs/{job['id']}", headers=HEADERS,
                           timeout=30).json()
    took = time.perf_counter() - started
    print(f"| ingest job, {seconds} s video ({job['status']}) | {took:.1f} s | {job['frames']} frames, "
          f"{job['segments_stored']} segments | {took / seconds:.2f} s per video second |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lengths", default="20,60", help="video lengths in seconds, comma-separated")
    args = parser.parse_args()
    lengths = [int(value) for value in args.lengths.split(",")]
    print(f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| what | time | output | rate |\n| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in lengths:
            bench_decoding(seconds, Path(tmp))
        encoders = {name: start_service(name, {f"{name.upper()}_THREADS": "4"}, wait=False)
                    for name in ("text", "vision", "audio")}
        fusion = None
        try:
            for service in encoders.values():
                service.wait_ready(400)
            fusion = start_service("fusion", {"FUSION_DATA_DIR": str(Path(tmp) / "fusion"),
                                              **{f"FUSION_{n.upper()}_URL": s.url for n, s in encoders.items()}})
            requests.post(fusion.url + "/v1/collections", json={"name": "bench"}, headers=HEADERS, timeout=60)
            for seconds in lengths:
                bench_ingest(fusion, seconds)
        finally:
            for service in [fusion, *encoders.values()]:
                if service is not None:
                    service.stop()


if __name__ == "__main__":
    main()
