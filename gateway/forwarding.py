"""Multipart uploads passed on to an upstream as multipart, parts and fields as they came."""

from __future__ import annotations

from typing import Any

from flask import request

from gateway.upstreams import upstream
from servekit.uploads import raw_body, uploaded_files


def forward_upload(service: str, path: str) -> Any:
    """POST the current multipart request's ``file`` parts and form fields to ``service``; its JSON answer."""
    files = [(name, (part.filename or name, part.read(), part.mimetype or "application/octet-stream"))
             for part in uploaded_files() for name in [part.name or "file"]]
    fields = [(key, value) for key, values in request.form.lists() for value in values]
    answer = upstream(service).request("POST", path, files=files, data=fields,  # type: ignore[arg-type]
                                       params=request.args or None)
    return answer.json()


def forward_raw(service: str, path: str) -> Any:
    """POST the current raw body (the media itself) with its Content-Type and query string; the JSON answer."""
    answer = upstream(service).request("POST", path, data=raw_body(), params=request.args.to_dict(flat=False),
                                       headers={"Content-Type": request.mimetype})
    return answer.json()
