"""What the code says about each deployable: its settings' variables and port, and the kernel's health routes.

Read at test time from the settings classes themselves (``model_fields``, the env prefix in ``model_config``,
aliases such as ``POLYSERVE_INTERNAL_TOKEN``), so fields other areas add are known without editing a list.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any
from unittest import mock

from flask import Flask
from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings

from servekit.app import install_health
from servekit.catalog import SERVICES
from servekit.models import import_object

# Variables the manifests may set that no settings class reads: libraries' own switches.
EXTERNAL_VARIABLES = frozenset({
    "HF_HOME",  # hub model cache (transformers, huggingface_hub)
    "HF_HUB_OFFLINE",  # never reach the hub at run time
    "TRANSFORMERS_OFFLINE",
    "XDG_CACHE_HOME",  # libraries' ~/.cache, moved to /tmp on read-only root filesystems
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPATH",  # the images run the sources from /opt/polyserve/app
    "PIP_DISABLE_PIP_VERSION_CHECK",  # build-time only
    "PATH",
})


@dataclass(frozen=True)
class Deployable:
    """One ``python -m servekit.serve NAME`` process as the code defines it."""

    name: str
    settings_class: type[BaseSettings]

    @property
    def prefix(self) -> str:
        return str(self.settings_class.model_config.get("env_prefix", "")).upper()

    @property
    def default_port(self) -> int:
        return int(self.settings_class.model_fields["port"].default)

    @property
    def variables(self) -> frozenset[str]:
        """Every environment variable the settings class reads."""
        return frozenset(name for field_name in self.settings_class.model_fields
                         for name in field_variables(self.settings_class, field_name))

    def settings_from(self, environ: dict[str, str]) -> Any:
        """The settings object this environment produces; pydantic raises on a bad value."""
        return settings_from_environ(self.settings_class, environ)


def field_variables(settings_class: type[BaseSettings], field_name: str) -> list[str]:
    """The variable names one field reads: its alias(es) if it has any, else prefix + field name."""
    field = settings_class.model_fields[field_name]
    alias: Any = field.validation_alias or field.alias
    if isinstance(alias, str):
        return [alias.upper()]
    if isinstance(alias, AliasChoices):
        return [choice.upper() for choice in alias.choices if isinstance(choice, str)]
    if isinstance(alias, AliasPath):
        return [str(alias.path[0]).upper()]
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    return [f"{prefix}{field_name}".upper()]


def settings_from_environ(settings_class: type[BaseSettings], environ: dict[str, str]) -> Any:
    """Instantiate ``settings_class`` from exactly ``environ`` (no other variable of this process leaks in)."""
    with mock.patch.dict(os.environ, environ, clear=True):
        return settings_class()


def deployables(overrides: dict[str, type[BaseSettings]] | None = None) -> dict[str, Deployable]:
    """Every service ``servekit.serve`` runs, by name; ``overrides`` swaps a settings class (tests)."""
    found = {name: Deployable(name, import_object(spec.settings)) for name, spec in SERVICES.items()}
    for name, settings_class in (overrides or {}).items():
        found[name] = Deployable(name, settings_class)
    return found


@dataclass(frozen=True)
class HealthRoutes:
    """The kernel's health routes, told apart by how they answer while the models are still loading."""

    liveness: str  # 200 while loading: the process answers
    readiness: str  # 503 while loading: not ready for traffic

    @property
    def all(self) -> frozenset[str]:
        return frozenset({self.liveness, self.readiness})


def health_routes() -> HealthRoutes:
    """Ask a kernel app that is not ready yet which of its health routes say so."""
    app = Flask("deploy-probe")
    install_health(app, lambda: (False, {}))
    client = app.test_client()
    paths = sorted(rule.rule for rule in app.url_map.iter_rules() if rule.endpoint != "static")
    statuses = {path: client.get(path).status_code for path in paths}
    live = [path for path, status in statuses.items() if status == 200]
    ready = [path for path, status in statuses.items() if status == 503]
    if len(live) != 1 or len(ready) != 1:
        raise AssertionError(f"expected one liveness and one readiness route, got {statuses}")
    return HealthRoutes(liveness=live[0], readiness=ready[0])


def backend_registry(service: str) -> dict[str, str] | None:
    """``services.<service>.backends.REGISTRY`` (backend key -> class), or None for a service without models."""
    try:
        module = importlib.import_module(f"services.{service}.backends")
    except ModuleNotFoundError:
        return None
    registry: dict[str, str] | None = getattr(module, "REGISTRY", None)
    return registry
