"""Every overlay renders with kubectl kustomize and passes strict schema validation offline; the objects the
issue asks for are there (GPUs, probes, autoscalers, budgets, policies, Ingress with TLS, Secrets, volumes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from servekit.catalog import ENCODERS
from tests.deploy.checks_k8s import by_kind, pod_labels, selects
from tests.deploy.conftest import KUSTOMIZATIONS, OVERLAYS
from tests.deploy.tools import run, tool

SERVERS = (*ENCODERS, "fusion", "gateway")
Objects = dict[str, list[dict[str, Any]]]


def validate(path: Path) -> tuple[int, str]:
    result = run([tool("kubernetes-validate"), "--strict", "--quiet", path])
    return result.returncode, result.stdout + result.stderr


def test_there_are_cpu_and_gpu_overlays() -> None:
    assert {"cpu", "gpu"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", KUSTOMIZATIONS)
def test_overlay_passes_strict_schema_validation(overlay: str, rendered: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / f"{overlay}.yaml"
    path.write_text(rendered[overlay])
    code, output = validate(path)
    assert code == 0, output


def test_strict_validation_rejects_an_unknown_field(rendered: dict[str, str], tmp_path: Path) -> None:
    """The validator is strict: a misspelt field (which kubectl apply would drop silently) fails."""
    documents = [doc for doc in yaml.safe_load_all(rendered["cpu"]) if doc]
    deployment = next(doc for doc in documents if doc["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    code, output = validate(path)
    assert code != 0
    assert "readinessProbes" in output


def gpu_limit(objects: list[dict[str, Any]], name: str) -> Any:
    container = by_kind(objects, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
    return container["resources"]["limits"].get("nvidia.com/gpu")


def test_gpu_overlay_gives_each_modality_its_own_gpu(objects: Objects) -> None:
    gpu = objects["gpu"]
    assert [gpu_limit(gpu, name) for name in ENCODERS] == [1, 1, 1]
    assert gpu_limit(gpu, "fusion") is None and gpu_limit(gpu, "gateway") is None
    for name in ENCODERS:
        spec = by_kind(gpu, "Deployment")[name]["spec"]
        assert spec["template"]["spec"]["containers"][0]["image"].endswith("-cuda")
        assert spec["strategy"]["rollingUpdate"]["maxSurge"] == 0  # a rollout needs no spare GPU
    devices = {cm["data"].get(f"{name.upper()}_DEVICE") for cm in by_kind(gpu, "ConfigMap").values()
               for name in ENCODERS if f"{name.upper()}_DEVICE" in cm["data"]}
    assert devices == {"cuda"}


def test_cpu_overlay_asks_for_no_gpu(objects: Objects) -> None:
    cpu = objects["cpu"]
    assert all(gpu_limit(cpu, name) is None for name in SERVERS)
    for name in ENCODERS:
        assert by_kind(cpu, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]["image"].endswith("-cpu")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_servers_have_probes_resources_autoscaler_and_budget(overlay: str, objects: Objects) -> None:
    documents = objects[overlay]
    deployments = by_kind(documents, "Deployment")
    scaled = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in by_kind(documents, "HorizontalPodAutoscaler").values()}
    budgets = by_kind(documents, "PodDisruptionBudget").values()
    for name in SERVERS:
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container), name
        assert {"requests", "limits"} <= set(container["resources"]), name
        assert name in scaled, name
        assert any(selects(pdb["spec"]["selector"], pod_labels(deployments[name])) for pdb in budgets), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_encoders_startup_probe_waits_for_slow_model_loads(overlay: str, objects: Objects) -> None:
    for name in ENCODERS:
        deployment = by_kind(objects[overlay], "Deployment")[name]
        probe = deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
        assert probe["httpGet"]["path"] == "/readyz"
        assert probe["periodSeconds"] * probe["failureThreshold"] >= 600, name


def reachable(policies: list[dict[str, Any]], source: dict[str, str] | None, target: dict[str, str],
              source_namespace_labels: dict[str, str] | None = None) -> bool:
    """Whether NetworkPolicies let a pod with ``source`` labels (None: outside the namespace) reach ``target``."""
    isolating = [p for p in policies if "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
                 and selects(p["spec"]["podSelector"], target)]
    if not isolating:
        return True
    for policy in isolating:
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            if not peers:
                return True
            for peer in peers:
                if "namespaceSelector" in peer:
                    if source is None and selects(peer["namespaceSelector"], source_namespace_labels or {}):
                        return True
                elif source is not None and selects(peer["podSelector"], source):
                    return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_open_only_what_the_issue_allows(overlay: str, objects: Objects) -> None:
    documents = objects[overlay]
    policies = list(by_kind(documents, "NetworkPolicy").values())
    pods = {name: pod_labels(d) for name, d in by_kind(documents, "Deployment").items()}
    # None: a client outside the namespace (the Ingress controller, another team's pod).
    allowed_callers: dict[str, set[str | None]] = {
        "gateway": {None, *pods}, "fusion": {"gateway", "gateway-worker"}, "redis": {"gateway", "gateway-worker"},
        "gateway-worker": set(), **{name: {"fusion", "gateway", "gateway-worker"} for name in ENCODERS}}
    for target, callers in allowed_callers.items():
        for source in [None, *pods]:
            labels = None if source is None else pods[source]
            assert reachable(policies, labels, pods[target]) == (source in callers), (source, target)
    monitoring = {"kubernetes.io/metadata.name": "monitoring"}
    assert all(reachable(policies, None, pods[name], monitoring) for name in SERVERS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_serves_the_gateway_over_tls(overlay: str, objects: Objects) -> None:
    ingresses = list(by_kind(objects[overlay], "Ingress").values())
    assert len(ingresses) == 1
    spec = ingresses[0]["spec"]
    hosts = {rule["host"] for rule in spec["rules"]}
    assert hosts and all(tls["secretName"] for tls in spec["tls"])
    assert hosts <= {host for tls in spec["tls"] for host in tls["hosts"]}
    backends = {path["backend"]["service"]["name"] for rule in spec["rules"] for path in rule["http"]["paths"]}
    assert backends == {"gateway"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_config_volumes_and_vector_database(overlay: str, objects: Objects) -> None:
    documents = objects[overlay]
    secrets = by_kind(documents, "Secret")
    assert {"polyserve-internal-token", "gateway-api-keys"} <= set(secrets)
    assert all("data" not in secret and "stringData" not in secret for secret in secrets.values())
    config_maps = {name.rsplit("-", 1)[0] for name in by_kind(documents, "ConfigMap")}
    assert {f"{name}-config" for name in SERVERS} <= config_maps
    claims = by_kind(documents, "PersistentVolumeClaim")
    assert {"model-cache", "fusion-data"} <= set(claims)
    deployments = by_kind(documents, "Deployment")
    for name in ENCODERS:
        volumes = deployments[name]["spec"]["template"]["spec"]["volumes"]
        assert {"claimName": "model-cache"} in [v.get("persistentVolumeClaim") for v in volumes], name
    fusion_config = next(cm for n, cm in by_kind(documents, "ConfigMap").items() if n.startswith("fusion-config"))
    assert fusion_config["data"]["FUSION_MILVUS_URI"].startswith("http://vector-db:")
    assert by_kind(documents, "Service")["vector-db"]["spec"]["type"] == "ExternalName"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_job_worker_runs_the_gateway_image(overlay: str, objects: Objects) -> None:
    deployments = by_kind(objects[overlay], "Deployment")
    worker = deployments["gateway-worker"]["spec"]["template"]["spec"]["containers"][0]
    gateway = deployments["gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["command"] == ["python3", "-m", "gateway.worker"]
    assert worker["image"] == gateway["image"] and worker["envFrom"] == gateway["envFrom"]
