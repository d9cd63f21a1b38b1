"""One rendered Kubernetes overlay against the code: each polyserve Deployment's variables (ConfigMaps and
Secrets resolved), port, probes, Service, URLs and writable paths; and the names that tie objects together
(Service and NetworkPolicy selectors, Ingress backends, autoscaler and disruption-budget targets)."""

from __future__ import annotations

from typing import Any

from tests.deploy.checks_common import (
    load_settings,
    model_problems,
    path_variables_on_volumes,
    port_and_host,
    unknown_variables,
    url_targets,
)
from tests.deploy.code_facts import Deployable, HealthRoutes
from tests.deploy.dockerfiles import ImageFacts

SERVER_CONTAINER = "server"
SECRET_PLACEHOLDER = "value-from-a-secret"

Manifest = dict[str, Any]


def by_kind(documents: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc and doc.get("kind") == kind}


def image_service(image: str) -> str:
    """``registry/polyserve/text:0.1.0-cuda`` -> ``text``."""
    return image.rsplit("/", 1)[-1].split("@")[0].split(":")[0]


def container_environ(container: Manifest, config_maps: dict[str, Manifest]) -> tuple[dict[str, str], list[str]]:
    """The variables a container gets from envFrom ConfigMaps and env (Secret values as placeholders)."""
    environ: dict[str, str] = {}
    problems = []
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef") or source.get("secretRef") or {}
        if "configMapRef" in source:
            if ref["name"] not in config_maps:
                problems.append(f"envFrom names ConfigMap {ref['name']!r}, which is not rendered")
                continue
            environ.update(config_maps[ref["name"]].get("data", {}))
        else:
            problems.append(f"envFrom secretRef {ref.get('name')!r} hides its variable names; use env with "
                            "secretKeyRef so they can be checked")
    for entry in container.get("env", []):
        environ[entry["name"]] = entry.get("value", SECRET_PLACEHOLDER)
    return environ, problems


def pod_labels(deployment: Manifest) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"].get("labels", {})
    return labels


def selects(selector: Manifest, labels: dict[str, str]) -> bool:
    """A label selector ({matchLabels, matchExpressions} or a Service's plain map) against pod labels."""
    match = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    if any(labels.get(key) != value for key, value in match.items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        if expression["operator"] == "In" and value not in expression["values"]:
            return False
        if expression["operator"] == "NotIn" and value in expression["values"]:
            return False
        if expression["operator"] == "Exists" and value is None:
            return False
    return True


def service_ports(services: dict[str, Manifest]) -> dict[str, int | None]:
    """Service name -> its port (None when it has several, or is an ExternalName without one)."""
    ports: dict[str, int | None] = {}
    for name, service in services.items():
        listed = service["spec"].get("ports", [])
        ports[name] = int(listed[0]["port"]) if len(listed) == 1 else None
    return ports


def probe_problems(where: str, container: Manifest, routes: HealthRoutes, port: int) -> list[str]:
    """Readiness on the route that says 503 while loading, liveness on the one that stays 200."""
    expected = {"readinessProbe": routes.readiness, "livenessProbe": routes.liveness, "startupProbe": None}
    problems = []
    for probe_name, path in expected.items():
        get = (container.get(probe_name) or {}).get("httpGet")
        if get is None:
            problems.append(f"{where}: no HTTP {probe_name}")
            continue
        if (path is not None and get["path"] != path) or get["path"] not in routes.all:
            problems.append(f"{where}: {probe_name} GETs {get['path']}, expected {path or sorted(routes.all)}")
        if not port_matches(get["port"], container, port):
            problems.append(f"{where}: {probe_name} uses port {get['port']}, the service listens on {port}")
    return problems


def port_matches(reference: int | str, container: Manifest, port: int) -> bool:
    """A numeric port, or a named containerPort, that resolves to ``port``."""
    if isinstance(reference, int):
        return reference == port
    named = {entry.get("name"): entry["containerPort"] for entry in container.get("ports", [])}
    return named.get(reference) == port


def check_deployment(where: str, deployment: Manifest, deployable: Deployable, image: ImageFacts | None,
                     documents: list[Manifest], routes: HealthRoutes) -> list[str]:
    pod = deployment["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == SERVER_CONTAINER)
    own, problems = container_environ(container, by_kind(documents, "ConfigMap"))
    problems = [f"{where}: {problem}" for problem in problems]
    problems += unknown_variables(where, own, deployable)
    environ = {**(image.env if image else {}), **own}
    settings, invalid = load_settings(where, deployable, environ)
    if settings is None:
        return problems + invalid
    problems += port_and_host(where, deployable, settings)
    problems += model_problems(where, deployable, settings)
    if not port_matches("http", container, settings.port):
        problems.append(f"{where}: containerPort 'http' is not {deployable.prefix}PORT {settings.port}")
    problems += probe_problems(where, container, routes, settings.port)
    services = by_kind(documents, "Service")
    fronting = [name for name, svc in services.items()
                if svc["spec"].get("selector") and selects(svc["spec"]["selector"], pod_labels(deployment))]
    if not fronting:
        problems.append(f"{where}: no Service selects its pods")
    for name in fronting:
        for port in services[name]["spec"]["ports"]:
            if not port_matches(port.get("targetPort", port["port"]), container, settings.port):
                problems.append(f"{where}: Service {name} targets port {port.get('targetPort')}, the container "
                                f"listens on {settings.port}")
    problems += url_targets(where, environ, service_ports(services))
    return problems + writable_path_problems(where, container, environ)


def writable_path_problems(where: str, container: Manifest, environ: dict[str, str]) -> list[str]:
    """With a read-only root filesystem, the paths the settings write to must be volume mounts."""
    if not (container.get("securityContext") or {}).get("readOnlyRootFilesystem"):
        return []
    mounts = [mount["mountPath"] for mount in container.get("volumeMounts", [])]
    return path_variables_on_volumes(where, environ, mounts)


def check_auxiliary(where: str, container: Manifest, deployable: Deployable,
                    image: ImageFacts | None, documents: list[Manifest]) -> list[str]:
    """A container that runs a service's image for another program (the job worker): names and values only."""
    own, problems = container_environ(container, by_kind(documents, "ConfigMap"))
    problems = [f"{where}: {problem}" for problem in problems]
    problems += unknown_variables(where, own, deployable)
    environ = {**(image.env if image else {}), **own}
    problems += load_settings(where, deployable, environ)[1]
    problems += url_targets(where, environ, service_ports(by_kind(documents, "Service")))
    return problems + writable_path_problems(where, container, environ)


def reference_problems(overlay: str, documents: list[Manifest]) -> list[str]:
    """Selectors and references between objects point at something that exists."""
    deployments = by_kind(documents, "Deployment")
    services = by_kind(documents, "Service")
    labels = [pod_labels(deployment) for deployment in deployments.values()]
    problems = []
    for name, policy in by_kind(documents, "NetworkPolicy").items():
        selectors = [policy["spec"]["podSelector"]] + [
            peer["podSelector"] for rule in policy["spec"].get("ingress", [])
            for peer in rule.get("from", []) if "podSelector" in peer and "namespaceSelector" not in peer]
        for selector in selectors:
            if selector and not any(selects(selector, pod) for pod in labels):
                problems.append(f"k8s/{overlay} networkpolicy/{name}: selector {selector} matches no pod")
    for kind in ("HorizontalPodAutoscaler",):
        for name, hpa in by_kind(documents, kind).items():
            if hpa["spec"]["scaleTargetRef"]["name"] not in deployments:
                problems.append(f"k8s/{overlay} hpa/{name}: scales {hpa['spec']['scaleTargetRef']['name']}, "
                                "which is no Deployment")
    for name, pdb in by_kind(documents, "PodDisruptionBudget").items():
        if not any(selects(pdb["spec"]["selector"], pod) for pod in labels):
            problems.append(f"k8s/{overlay} pdb/{name}: selector matches no pod")
    for name, ingress in by_kind(documents, "Ingress").items():
        for rule in ingress["spec"].get("rules", []):
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                if backend["name"] not in services:
                    problems.append(f"k8s/{overlay} ingress/{name}: backend {backend['name']} is no Service")
                elif backend["port"].get("name") not in [p.get("name") for p in
                                                          services[backend["name"]]["spec"]["ports"]] \
                        and backend["port"].get("number") not in [p["port"] for p in
                                                                  services[backend["name"]]["spec"]["ports"]]:
                    problems.append(f"k8s/{overlay} ingress/{name}: backend port {backend['port']} is not a "
                                    f"port of Service {backend['name']}")
    return problems


def check_overlay(overlay: str, documents: list[Manifest], deployables: dict[str, Deployable],
                  images: dict[str, ImageFacts], routes: HealthRoutes) -> list[str]:
    problems = reference_problems(overlay, documents)
    served = set()
    for name, deployment in sorted(by_kind(documents, "Deployment").items()):
        pod = deployment["spec"]["template"]["spec"]
        where = f"k8s/{overlay} deployment/{name}"
        for other in pod["containers"]:
            if other["name"] != SERVER_CONTAINER and image_service(other["image"]) in deployables:
                service = image_service(other["image"])
                problems += check_auxiliary(f"{where} container/{other['name']}", other,
                                            deployables[service], images.get(service), documents)
        server = next((c for c in pod["containers"] if c["name"] == SERVER_CONTAINER), None)
        if server is None:
            continue
        service = image_service(server["image"])
        if service not in deployables:
            problems.append(f"{where}: image {server['image']} runs no known service ({sorted(deployables)})")
            continue
        served.add(service)
        problems += check_deployment(where, deployment, deployables[service], images.get(service), documents,
                                     routes)
    problems += [f"k8s/{overlay}: no Deployment runs {name}" for name in sorted(set(deployables) - served)]
    return problems
