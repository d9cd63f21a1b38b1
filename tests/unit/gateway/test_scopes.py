"""Every public route demands a scope from the table, so a new route cannot ship unprotected."""

from __future__ import annotations

import pytest

from gateway.app import create_app
from gateway.jobs import JOB_TARGETS, job_path
from gateway.scopes import ADMIN, SCOPE_RULES, allows, find_rule, parse_scopes, required_scope
from gateway.settings import GatewaySettings


def _v1_rules() -> list[tuple[str, str]]:
    app = create_app(GatewaySettings(api_keys="k"))
    return [(rule.rule, method) for rule in app.url_map.iter_rules() if rule.rule.startswith("/v1/")
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def test_every_v1_route_has_a_row_in_the_scope_table() -> None:
    rules = _v1_rules()
    assert len(rules) >= 8
    missing = [(rule, method) for rule, method in rules if find_rule(rule, method) is None]
    assert missing == [], "add these routes to gateway.scopes.SCOPE_RULES"


def test_every_row_of_the_scope_table_serves_a_route() -> None:
    rules = _v1_rules()
    dead = [row.prefix for row in SCOPE_RULES if not any(row.matches(rule, method) for rule, method in rules)]
    assert dead == [], "these rows of gateway.scopes.SCOPE_RULES match no route"


@pytest.mark.parametrize(
    ("rule", "method", "scope"),
    [
        ("/v1/embeddings", "POST", "embeddings"),
        ("/v1/images/captions", "POST", "images"),
        ("/v1/audio/transcriptions", "POST", "audio"),
        ("/v1/chat/completions", "POST", "chat"),
        ("/v1/images/questions", "POST", "images"),
        ("/v1/collections", "GET", "collections:read"),
        ("/v1/collections/<name>", "DELETE", "collections:write"),
        ("/v1/collections/<name>/items", "POST", "collections:write"),
        ("/v1/admin/cache", "DELETE", "admin"),
        ("/v1/models", "GET", None),
        ("/v1/jobs/<job_id>", "GET", None),
    ],
)
def test_routes_map_to_their_scopes(rule: str, method: str, scope: str | None) -> None:
    assert required_scope(rule, method) == scope


def test_a_job_submission_needs_the_scope_of_the_route_it_defers() -> None:
    for target in JOB_TARGETS:
        assert required_scope(job_path(target), "POST") == required_scope(target, "POST") is not None


def test_prefixes_match_whole_path_segments_and_unknown_routes_need_admin() -> None:
    assert required_scope("/v1/embeddingsx", "POST") == ADMIN
    assert required_scope("/v1/something-new", "GET") == ADMIN


def test_scope_parsing_and_wildcard() -> None:
    granted = parse_scopes("embeddings  images,audio")
    assert granted == {"embeddings", "images", "audio"}
    assert allows(granted, "images") and not allows(granted, "admin") and allows(granted, None)
    assert allows(frozenset({"*"}), "admin")
