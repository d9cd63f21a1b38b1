"""The consistency test: code and deployment files agree, and each kind of drift is caught on an edited copy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servekit.catalog import SERVICES
from services.text.settings import TextSettings
from tests.deploy.code_facts import deployables, health_routes
from tests.deploy.conftest import edit
from tests.deploy.consistency import check_all
from tests.deploy.tools import ROOT

CopyFactory = Callable[[], Path]


def test_code_and_deployment_files_agree() -> None:
    assert check_all(ROOT) == []


def test_code_facts_come_from_the_settings_classes() -> None:
    services = deployables()
    assert set(services) == set(SERVICES)
    for name, deployable in services.items():  # the settings' defaults are the catalog's
        assert deployable.default_port == SERVICES[name].port
        assert deployable.prefix == SERVICES[name].env_prefix
    assert "POLYSERVE_INTERNAL_TOKEN" in services["text"].variables  # an alias, not prefix + field
    assert "GATEWAY_API_KEYS_FILE" in services["gateway"].variables
    assert "TEXT_API_KEYS_FILE" not in services["text"].variables
    routes = health_routes()
    assert (routes.liveness, routes.readiness) == ("/healthz", "/readyz")


def test_a_port_changed_in_the_code_is_caught_everywhere() -> None:
    class DriftedText(TextSettings):
        model_config = SettingsConfigDict(env_prefix="TEXT_")
        port: int = Field(8011, ge=1, le=65535, description="A port the manifests do not know.")

    problems = check_all(ROOT, {"text": DriftedText})
    assert any(p.startswith("docker services/text/Dockerfile") or "services/text/Dockerfile" in p
               for p in problems if "8011" in p)
    assert any(p.startswith("compose service text") and "8011" in p for p in problems)
    assert any(p.startswith("k8s/gpu deployment/text") and "8011" in p for p in problems)
    assert any(p.startswith("k8s/cpu deployment/text") and "8011" in p for p in problems)


def test_a_container_port_drift_is_caught(deploy_copy: CopyFactory) -> None:
    root = deploy_copy()
    edit(root / "deploy/base/text.yaml", "containerPort: 8001", "containerPort: 8011")
    problems = check_all(root)
    assert any("k8s/cpu deployment/text" in p and "containerPort" in p for p in problems), problems


def test_a_probe_path_drift_is_caught(deploy_copy: CopyFactory) -> None:
    root = deploy_copy()
    edit(root / "deploy/base/common/pod-defaults.yaml", "path: /readyz", "path: /ready")
    problems = check_all(root)
    assert any("deployment/gateway" in p and "readinessProbe GETs /ready" in p for p in problems), problems


def test_liveness_on_the_readiness_route_is_caught(deploy_copy: CopyFactory) -> None:
    """A liveness probe on /readyz would kill every pod whose model is still loading."""
    root = deploy_copy()
    edit(root / "deploy/base/common/pod-defaults.yaml",
         "livenessProbe:\n            httpGet:\n              path: /healthz",
         "livenessProbe:\n            httpGet:\n              path: /readyz")
    problems = check_all(root)
    assert any("livenessProbe GETs /readyz, expected /healthz" in p for p in problems), problems


def test_an_unknown_variable_in_a_config_map_is_caught(deploy_copy: CopyFactory) -> None:
    root = deploy_copy()
    path = root / "deploy/base/config/gateway.env"
    path.write_text(path.read_text() + "GATEWAY_API_KEY_FILE=/etc/polyserve/api-keys/api_keys.txt\n")
    problems = check_all(root)
    assert any("deployment/gateway" in p and "GATEWAY_API_KEY_FILE is read by no GatewaySettings" in p
               for p in problems), problems


def test_an_unknown_variable_in_compose_is_caught(deploy_copy: CopyFactory) -> None:
    root = deploy_copy()
    edit(root / "docker-compose.yml", "      FUSION_DATA_DIR: /data\n",
         "      FUSION_DATA_DIR: /data\n      FUSION_INDEX_DIR: /data\n")
    problems = check_all(root)
    assert any(p.startswith("compose service fusion") and "FUSION_INDEX_DIR" in p for p in problems), problems


def test_a_bad_value_is_caught_by_the_settings_class(deploy_copy: CopyFactory) -> None:
    root = deploy_copy()
    edit(root / "deploy/overlays/gpu/kustomization.yaml", "[TEXT_DEVICE=cuda]", "[TEXT_DEVICE=gpu]")
    problems = check_all(root)
    assert any("k8s/gpu deployment/text" in p and "rejects its environment" in p and "device" in p
               for p in problems), problems


def test_a_renamed_service_in_a_url_is_caught(deploy_copy: CopyFactory) -> None:
    root = deploy_copy()
    edit(root / "docker-compose.yml", "GATEWAY_TEXT_URL: http://text:8001", "GATEWAY_TEXT_URL: http://txt:8001")
    edit(root / "deploy/base/config/fusion.env", "FUSION_VISION_URL=http://vision:8002",
         "FUSION_VISION_URL=http://vision:8012")
    problems = check_all(root)
    assert any(p.startswith("compose service gateway") and "'txt'" in p for p in problems), problems
    assert any("deployment/fusion" in p and "uses port 8012; vision listens on 8002" in p for p in problems)


def test_dockerfile_drift_is_caught(deploy_copy: CopyFactory) -> None:
    root = deploy_copy()
    edit(root / "services/vision/Dockerfile", "EXPOSE 8002", "EXPOSE 8020")
    edit(root / "gateway/Dockerfile", '"gateway", "/healthz"]', '"gateway", "/health"]')
    problems = check_all(root)
    assert any("services/vision/Dockerfile" in p and "EXPOSE [8020]" in p for p in problems), problems
    assert any("gateway/Dockerfile" in p and "/health is no health route" in p for p in problems), problems


def test_a_compose_health_check_drift_is_caught(deploy_copy: CopyFactory) -> None:
    root = deploy_copy()
    edit(root / "docker-compose.yml", '"audio", "/readyz"]', '"vision", "/readyz"]')
    problems = check_all(root)
    assert any(p.startswith("compose service audio") and "names service ['vision']" in p for p in problems)


def test_a_network_policy_naming_a_missing_service_is_caught(deploy_copy: CopyFactory) -> None:
    root = deploy_copy()
    edit(root / "deploy/base/network-policies.yaml", "values: [fusion, gateway, gateway-worker]",
         "values: [fuse, gw]")
    problems = check_all(root)
    assert any("networkpolicy/encoders-from-fusion-and-gateway" in p and "matches no pod" in p for p in problems)


def test_a_data_dir_off_the_volumes_is_caught(deploy_copy: CopyFactory) -> None:
    """Root filesystems are read-only: the index must live on the mounted volume."""
    root = deploy_copy()
    edit(root / "deploy/base/config/fusion.env", "FUSION_DATA_DIR=/data", "FUSION_DATA_DIR=/var/fusion")
    problems = check_all(root)
    assert any("deployment/fusion" in p and "FUSION_DATA_DIR=/var/fusion is on no mounted volume" in p
               for p in problems), problems


def test_the_job_worker_environment_is_checked_too(deploy_copy: CopyFactory) -> None:
    root = deploy_copy()
    edit(root / "deploy/base/gateway-worker.yaml", "          env:\n", "          env:\n"
         "            - name: GATEWAY_JOBS_QUEUES\n              value: polyserve-jobs\n")
    problems = check_all(root)
    assert any("deployment/gateway-worker container/worker" in p and "GATEWAY_JOBS_QUEUES" in p
               for p in problems), problems
