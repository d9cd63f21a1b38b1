"""The gateway's strict intake: every JSON or multipart body is checked once, before the cache and the route.

Installed after authentication and rate limits (an unauthenticated caller gets 401, not a parse of its body),
before the result cache (whose key reads the body). The parsed JSON stays on the request for the route
(:func:`servekit.jsonbody.request_json`), so the body is parsed once. Rules: servekit/jsonbody.py and
servekit/formfields.py.

Values in the URL (path and query parameters) are bounded too: gunicorn refuses a request line over 8190 bytes
(``limit_request_line``) with a bare 414 before the app sees it, and one character can take 12 bytes there
(four UTF-8 bytes, percent-encoded). At ``MAX_URL_VALUE_CHARS`` per value, every request the OpenAPI document
allows fits (it states the bound as ``maxLength``, gateway/openapi_rules.py); a longer value gets a 400 naming it.
"""

from __future__ import annotations

from flask import Flask, request

from servekit.errors import InvalidInput
from servekit.formfields import check_multipart
from servekit.jsonbody import request_json

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_URL_VALUE_CHARS = 256


def check_url_values() -> None:
    """Refuse a path or query value longer than ``MAX_URL_VALUE_CHARS``: long values belong in the body."""
    if not request.path.startswith("/v1/"):
        return
    values = [(name, value) for name, value in (request.view_args or {}).items() if isinstance(value, str)]
    values += list(request.args.items(multi=True))
    for name, value in values:
        if len(value) > MAX_URL_VALUE_CHARS:
            raise InvalidInput(f"{name} is longer than {MAX_URL_VALUE_CHARS} characters (the URL's limit: send "
                               f"long values in the body)", param=name, code="parameter_too_long")


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
    app.before_request(check_url_values)
    app.before_request(check_body)
