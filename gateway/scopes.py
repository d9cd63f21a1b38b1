"""Which scope each public route demands: one table keyed by URL rule and method, so a new route is covered by
adding a row, and a route nobody listed falls back to ``admin`` (closed by default).

A rule matches its own path and every path under it (``/v1/collections`` covers ``/v1/collections/<name>``).
The first matching row wins, so method-specific rows come before the catch-all row of the same prefix.
A scope of ``None`` means any authenticated caller. Submitting a job demands the scope of the route it defers.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_SCOPES = "*"
ADMIN = "admin"
JOBS_PREFIX = "/v1/jobs"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class ScopeRule:
    prefix: str
    scope: str | None
    methods: frozenset[str] | None = None  # None: every method

    def matches(self, rule: str, method: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        return rule == self.prefix or rule.startswith(self.prefix + "/")


SCOPE_RULES: tuple[ScopeRule, ...] = (
    ScopeRule("/v1/embeddings", "embeddings"),
    ScopeRule("/v1/rerank", "rerank"),
    ScopeRule("/v1/models", None, READ_METHODS),
    ScopeRule("/v1/images", "images"),
    ScopeRule("/v1/audio", "audio"),
    ScopeRule("/v1/chat", "chat"),
    ScopeRule("/v1/collections/<name>/search", "collections:read"),
    ScopeRule("/v1/collections", "collections:read", READ_METHODS),
    ScopeRule("/v1/collections", "collections:write"),
    ScopeRule("/v1/fuse", "fusion"),
    ScopeRule("/v1/fusion", "fusion"),
    ScopeRule("/v1/classifications", "fusion"),
    ScopeRule(JOBS_PREFIX, None, READ_METHODS | {"DELETE"}),  # status, result, cancel: the owner or an admin
    ScopeRule("/v1/admin", ADMIN),
)

KNOWN_SCOPES: frozenset[str] = frozenset(r.scope for r in SCOPE_RULES if r.scope) | {ADMIN}


def find_rule(rule: str, method: str) -> ScopeRule | None:
    """The table row for a URL rule and method; job submissions resolve to the row of their target route."""
    if method == "POST" and rule.startswith(JOBS_PREFIX + "/"):
        return find_rule("/v1" + rule[len(JOBS_PREFIX):], method)
    return next((row for row in SCOPE_RULES if row.matches(rule, method)), None)


def required_scope(rule: str, method: str) -> str | None:
    """The scope a request to ``rule`` with ``method`` needs; ``admin`` for a route missing from the table."""
    row = find_rule(rule, method)
    return ADMIN if row is None else row.scope


def parse_scopes(text: str) -> frozenset[str]:
    """Space- or comma-separated scopes (OAuth2's ``scope`` claim uses spaces)."""
    return frozenset(part for part in text.replace(",", " ").split() if part)


def allows(granted: frozenset[str], scope: str | None) -> bool:
    return scope is None or ALL_SCOPES in granted or scope in granted
