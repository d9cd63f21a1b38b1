"""Image-embedding throughput and latency through the gateway, beside the same models in-process.

Models: the real CLIP ViT-B/32 image tower architecture with random weights (built from its transformers
config and saved to a temporary folder: the same compute as the real checkpoint) and EfficientNet-Lite0 with
its real weights. The in-process ceiling runs the service's own backend (same processor and model) on batches
of decoded images of each size and keeps the best images/s. The gateway path starts the real vision service
and gateway as processes and drives ``POST /v1/embeddings`` (``"modality": "image"``, JPEG data URIs) with
closed-loop clients at several concurrency levels. Run: ``python bench/bench_vision.py``.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, sweep_concurrency  # noqa: E402
from tests.support.processes import start_service  # noqa: E402

KEY = "sk-bench"
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "horse", "camera", "hubble_deep_field", "immunohistochemistry")


def photo_jpegs() -> list[bytes]:
    """scikit-image's bundled photos as RGB JPEGs (what a client typically uploads)."""
    from PIL import Image
    from skimage import data

    jpegs = []
    for name in PHOTOS:
        buffer = io.BytesIO()
        Image.fromarray(getattr(data, name)()).convert("RGB").save(buffer, "JPEG", quality=90)
        jpegs.append(buffer.getvalue())
    return jpegs


def build_clip_b32(folder: Path) -> None:
    """CLIP ViT-B/32's image tower (patch 32, 224 px, 12 layers, width 768, projection 512), random weights."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                              image_size=224, patch_size=32, projection_dim=512)
    CLIPVisionModelWithProjection(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(folder)


class InProcess:
    """The service's own backend for one model, fed decoded images directly (no HTTP, no JSON, no decoding), or,
    with ``decode``, the JPEG files themselves, decoded as the service decodes them (what an application that embeds
    its image files in process does)."""

    def __init__(self, spec: Any, jpegs: list[bytes]) -> None:
        from servekit.device import resolve_placement
        from servekit.models import import_object
        from services.vision.backends import REGISTRY
        from services.vision.imaging import ImageLimits, decode_image

        self.backend = import_object(REGISTRY[spec.backend])(spec, resolve_placement("cpu"))
        self.backend.load()
        self.backend.warmup()
        self.jpegs = jpegs
        self.limits = ImageLimits(10**8, 10**8, 1000.0)
        self.images = [decode_image(data, self.limits) for data in jpegs]

    def rate(self, size: int, seconds: float, decode: bool = False) -> float:
        from services.vision.imaging import decode_image
        from services.vision.items import ImageItem

        def jobs() -> list[ImageItem]:
            return [ImageItem(decode_image(self.jpegs[i % len(self.jpegs)], self.limits) if decode
                              else self.images[i % len(self.images)]) for i in range(size)]

        self.backend.predict("embed", jobs())
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            self.backend.predict("embed", jobs())
            done += size
        return done / (time.perf_counter() - started)


def gateway_runs(url: str, model: str, jpegs: list[bytes], request_size: int, levels: list[int],
                 seconds: float) -> float:
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))
    uris = [f"data:image/jpeg;base64,{base64.b64encode(data).decode()}" for data in jpegs]
    headers = {"Authorization": f"Bearer {KEY}"}
    offset = {"i": 0}

    def send() -> int:
        start = offset["i"] = (offset["i"] + request_size) % len(uris)
        batch = [uris[(start + k) % len(uris)] for k in range(request_size)]
        response = session.post(f"{url}/v1/embeddings", headers=headers, timeout=120,
                                json={"model": model, "modality": "image", "input": batch,
                                      "encoding_format": "base64"})
        return len(response.json()["data"]) if response.status_code == 200 else 0

    return sweep_concurrency(send, levels, seconds, unit="images", request_size=request_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each measurement")
    parser.add_argument("--request-size", type=int, default=8, help="images per gateway request")
    parser.add_argument("--concurrency", default="2,4,8", help="comma-separated client counts")
    parser.add_argument("--batch-sizes", default="1,4,8,16,32", help="in-process batch sizes to try")
    parser.add_argument("--rounds", type=int, default=2, help="ceiling + gateway measurement rounds per model")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # OpenMP threads that spin while waiting are ruinous on a shared machine (measured here: a 2-thread forward
    # pass 3x slower under load); the in-process run and the services (which inherit it) use the same policy.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from servekit.models import ModelSpec
    from services.vision.settings import EFFICIENTNET_LITE0

    print(f"machine: {machine()}; OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    jpegs = photo_jpegs()
    levels = [int(c) for c in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-clip-b32-") as folder:
        build_clip_b32(Path(folder))
        specs = [ModelSpec(name="clip-vit-b32-random", backend="clip-vision", source=folder), EFFICIENTNET_LITE0]
        runners = {spec.name: InProcess(spec, jpegs) for spec in specs}
        best_size: dict[str, int] = {}
        for spec in specs:
            rates = {int(b): runners[spec.name].rate(int(b), args.seconds) for b in args.batch_sizes.split(",")}
            for size, rate in rates.items():
                print(f"{spec.name}: in-process batch={size:<4d} {rate:8.1f} images/s", flush=True)
            best_size[spec.name] = max(rates, key=lambda size: rates[size])
        served = [{**spec.model_dump(exclude_none=True),
                   "options": {**spec.options, "max_batch_size": best_size[spec.name]}} for spec in specs]
        vision = start_service("vision", {"VISION_MODELS": json.dumps(served), "VISION_THREADS": "32"})
        gateway = start_service("gateway", {"GATEWAY_API_KEYS": KEY, "GATEWAY_VISION_URL": vision.url,
                                            "GATEWAY_READY_REQUIRES": "vision", "GATEWAY_CACHE_ENABLED": "false",
                                            "GATEWAY_RATE_LIMITS_ENABLED": "false"})
        try:
            for spec in specs:
                # The ceiling is measured again right before each gateway round, so that both see the same
                # machine load (these machines are shared); the ratio compares the best of each.
                ceilings, served_rates = [], []
                for round_ in range(1, args.rounds + 1):
                    ceiling = runners[spec.name].rate(best_size[spec.name], args.seconds)
                    print(f"{spec.name}: round {round_}: in-process ceiling {ceiling:.1f} images/s at batch "
                          f"{best_size[spec.name]}", flush=True)
                    ceilings.append(ceiling)
                    served_rates.append(gateway_runs(gateway.url, spec.name, jpegs, args.request_size, levels,
                                                     args.seconds))
                print(f"{spec.name}: gateway at saturation / in-process ceiling: {max(served_rates):.1f} / "
                      f"{max(ceilings):.1f} = {max(served_rates) / max(ceilings):.2f}", flush=True)
        finally:
            gateway.stop()
            vision.stop()


if __name__ == "__main__":
    main()
