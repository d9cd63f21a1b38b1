"""Device and precision choice for torch models: auto / cpu / cuda:N, fp16 on CUDA, threads from settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Placement:
    device: str
    dtype_name: str  # "float16" or "float32"

    @property
    def dtype(self) -> torch.dtype:
        import torch

        dtype: torch.dtype = getattr(torch, self.dtype_name)
        return dtype

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")


def resolve_placement(device: str = "auto", fp16: bool = True, torch_threads: int = 0) -> Placement:
    """Turn the configured device into a concrete one; CUDA only when present, half precision only there."""
    import torch

    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    if device == "auto":
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    if device == "cuda":
        device = "cuda:0"
    dtype = "float16" if device.startswith("cuda") and fp16 else "float32"
    return Placement(device=device, dtype_name=dtype)
