"""Device and precision choice for torch models: auto / cpu / cuda:N, fp16 on CUDA, bfloat16 matrix products on
CPUs that multiply bfloat16 natively, threads from settings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch

CpuBf16 = Literal["auto", "on", "off"]
# CPU flags (Linux /proc/cpuinfo) of native bfloat16 dot products: AVX-512 BF16 (Zen 4, Cooper Lake on) and AMX.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@cache
def cpu_multiplies_bf16() -> bool:
    """Whether this CPU has native bfloat16 dot products (elsewhere bfloat16 is emulated, and slower than float32)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return bool(NATIVE_BF16_FLAGS.intersection(flags))


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to ``count`` for the enclosed work of the calling thread, then restored (a
    call costs well under a microsecond)."""
    import torch

    before = torch.get_num_threads()
    if count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class Placement:
    device: str
    dtype_name: str  # "float16" or "float32"
    # Matrix products in bfloat16 on the CPU (torch autocast; the rest in float32), for backends that opt in.
    cpu_bf16: bool = False

    def matmuls(self) -> contextlib.AbstractContextManager[Any]:
        """The context a forward pass runs in: bfloat16 autocast on the CPU when ``cpu_bf16``, else nothing."""
        if not self.cpu_bf16:
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    def cast_matmul_weights(self, model: Any) -> None:
        """With ``cpu_bf16``, store the weights of ``model``'s linear layers in bfloat16 once, so that autocast does
        not cast them again on every forward pass (same numbers: autocast would round them the same way)."""
        if not self.cpu_bf16:
            return
        import torch

        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.to(torch.bfloat16)

    def threads_for(self, work: int, single_thread_below: int) -> contextlib.AbstractContextManager[Any]:
        """The context a forward pass of ``work`` (say, padded tokens) runs in: on the CPU, one intra-op thread when
        the work is under ``single_thread_below``, else the configured number. A small pass split across threads
        spends more on waking and joining them than it saves (MiniLM, one sentence: 110 against 75 a second on one
        thread against two, measured in process on 2 cores)."""
        if self.is_cuda or work >= single_thread_below:
            return contextlib.nullcontext()
        return torch_threads(1)

    @property
    def dtype(self) -> torch.dtype:
        import torch

        dtype: torch.dtype = getattr(torch, self.dtype_name)
        return dtype

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")


def resolve_placement(device: str = "auto", fp16: bool = True, torch_threads: int = 0,
                      cpu_bf16: CpuBf16 = "off") -> Placement:
    """Turn the configured device into a concrete one; CUDA only when present, half precision only there, and
    bfloat16 matrix products on the CPU when asked (``auto``: where the CPU multiplies bfloat16 natively)."""
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
    bf16 = device == "cpu" and (cpu_bf16 == "on" or (cpu_bf16 == "auto" and cpu_multiplies_bf16()))
    return Placement(device=device, dtype_name=dtype, cpu_bf16=bf16)
