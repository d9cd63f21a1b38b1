"""Rate limits per caller and per route with Flask-Limiter: counters in Redis (shared by every gateway replica)
when ``GATEWAY_REDIS_URL`` is set, in memory otherwise; 429 with ``Retry-After`` and ``X-RateLimit-*`` headers."""

from __future__ import annotations

from flask import Flask, Response, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from gateway.settings import GatewaySettings

KEY_PREFIX = "polyserve-limits"


def caller_key() -> str:
    """The authenticated subject (API key digest or token ``sub``); the client address when auth is off."""
    principal: str | None = g.get("principal")
    return principal or f"addr:{get_remote_address()}"


def limit_for(rule: str, limits: dict[str, str], default: str) -> str:
    """The limit of the most specific configured prefix of ``rule`` (``/v1/jobs`` covers ``/v1/jobs/<id>``)."""
    best = ""
    for prefix in limits:
        if (rule == prefix or rule.startswith(prefix.rstrip("/") + "/")) and len(prefix) > len(best):
            best = prefix
    return limits[best] if best else default


def storage_uri(settings: GatewaySettings) -> str:
    return settings.redis_url or "memory://"


def _restore_retry_after(response: Response) -> Response:
    """Flask-Limiter writes ``Retry-After`` on every answer (the end of the window), which would override a route's
    own (an overloaded upstream's one second); keep the limiter's only on 429s."""
    if response.status_code != 429:
        own = g.pop("route_retry_after", None)
        if own is None:
            response.headers.pop("Retry-After", None)
        else:
            response.headers["Retry-After"] = own
    return response


def _remember_retry_after(response: Response) -> Response:
    g.route_retry_after = response.headers.get("Retry-After")
    return response


def install_rate_limits(app: Flask, settings: GatewaySettings) -> Limiter:
    """One counter per (caller, route); installed after authentication so the caller is known."""
    app.after_request(_restore_retry_after)  # after-request hooks run in reverse: this one after the limiter's

    def current_limit() -> str:
        rule = request.url_rule.rule if request.url_rule is not None else request.path
        return limit_for(rule, settings.rate_limits, settings.rate_limit_default)

    limiter = Limiter(
        caller_key,
        app=app,
        default_limits=[current_limit],
        default_limits_exempt_when=lambda: not request.path.startswith("/v1/") or request.method == "OPTIONS",
        storage_uri=storage_uri(settings),
        strategy=settings.rate_limit_strategy,
        headers_enabled=True,
        retry_after="delta-seconds",
        key_prefix=KEY_PREFIX,
        enabled=settings.rate_limits_enabled,
    )
    app.after_request(_remember_retry_after)  # ...and this one before it
    return limiter
