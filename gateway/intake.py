"""The gateway's strict intake: every JSON or multipart body is checked once, before the cache and the route.

Installed after authentication and rate limits (an unauthenticated caller gets 401, not a parse of its body),
before the result cache (whose key reads the body). The parsed JSON stays on the request for the route
(:func:`servekit.jsonbody.request_json`), so the body is parsed once. Rules: servekit/jsonbody.py and
servekit/formfields.py.
"""

from __future__ import annotations

from flask import Flask, request

from servekit.formfields import check_multipart
from servekit.jsonbody import request_json

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def check_body() -> None:
    """Refuse a malformed JSON or multipart body with the 400 the route would give, before anything reads it."""
    if request.method not in BODY_METHODS or request.url_rule is None:
        return
    if request.is_json:
        request_json()
    elif request.mimetype == "multipart/form-data":
        request.get_data(cache=True)  # the form is then parsed from the cached bytes, which job submissions queue
        check_multipart()


def install_strict_intake(app: Flask) -> None:
    app.before_request(check_body)
