"""The strict intake of multipart bodies and form fields, the counterpart of :mod:`servekit.jsonbody`.

Werkzeug accepts parts without a ``name`` (it keys them by ``None``) or with an empty one; nothing downstream
can address such a part, and code that sorts or measures names breaks on them. Every part must have a name of
at most :data:`MAX_FIELD_NAME_CHARS` printable characters, else 400 ``invalid_multipart`` naming the part.
Werkzeug already bounds the number of parts (413) and decodes values as UTF-8, replacing undecodable bytes.
"""

from __future__ import annotations

from flask import request

from servekit.errors import InvalidInput

MAX_FIELD_NAME_CHARS = 128


class InvalidMultipart(InvalidInput):
    code = "invalid_multipart"


def _check_name(name: str | None, kind: str) -> None:
    if not name:
        raise InvalidMultipart(f"a multipart {kind} part has no name: give each part a Content-Disposition name")
    if len(name) > MAX_FIELD_NAME_CHARS:
        raise InvalidMultipart(f"multipart {kind} name is longer than {MAX_FIELD_NAME_CHARS} characters",
                               param=name[:MAX_FIELD_NAME_CHARS])
    if not name.isprintable():
        raise InvalidMultipart(f"multipart {kind} name {name!r} holds control characters", param=repr(name))


def check_multipart() -> None:
    """Refuse a multipart body whose parts are not all named usably (no-op for other bodies)."""
    if request.mimetype != "multipart/form-data":
        return
    for name in request.form:
        _check_name(name, "field")
    for name in request.files:
        _check_name(name, "file")
