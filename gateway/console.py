"""The web console at ``/console``: static files only (HTML, CSS, ES modules), served with a Content-Security-Policy
that lets the page load nothing but its own files and call nothing but this gateway.

The page holds the API key in ``sessionStorage`` (this tab only) and sends it as a bearer header; the key never
travels in a URL, so it stays out of access logs.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, redirect, send_from_directory
from werkzeug.wrappers import Response as BaseResponse

STATIC = Path(__file__).parent / "console_static"

# Own files only; images and audio shown from blob:/data: URLs the page makes from the user's files.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
    "img-src 'self' data: blob:", "media-src 'self' blob:", "font-src 'self'", "base-uri 'none'",
    "form-action 'none'", "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
}

bp = Blueprint("console", __name__)


@bp.after_request
def add_security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


@bp.get("/console")
def console_root() -> BaseResponse:
    return redirect("/console/", code=308)  # relative asset paths resolve under /console/


@bp.get("/console/")
def console_index() -> Response:
    return send_from_directory(STATIC, "index.html")


@bp.get("/console/<path:filename>")
def console_file(filename: str) -> Response:
    return send_from_directory(STATIC, filename)
