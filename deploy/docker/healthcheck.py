"""Container health check: GET one health route of the service in this container, exit 0 on HTTP 200.

Images have no curl, and the HEALTHCHECK is exec form, so this runs with the image's Python and the
standard library only: ``healthcheck.py text /healthz``. The port is the one the service binds, read from
``<PREFIX>_PORT`` exactly as the service's settings read it (the images set it).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PATH = "/healthz"


def health_url(service: str, path: str, environ: dict[str, str]) -> str:
    """``http://127.0.0.1:<PREFIX>_PORT<path>`` for a service name such as ``text``."""
    variable = f"{service.upper()}_PORT"
    port = environ.get(variable)
    if not port or not port.isdigit():
        raise SystemExit(f"{variable} is not set to a port number in this container")
    return f"http://127.0.0.1:{port}{path}"


def is_healthy(url: str, timeout_s: float = 4.0) -> bool:
    """True when the route answers 200 in time; 503 (not ready), refusals and timeouts are False."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (loopback URL)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        raise SystemExit("usage: healthcheck.py SERVICE [PATH]")
    path = argv[2] if len(argv) == 3 else DEFAULT_PATH
    return 0 if is_healthy(health_url(argv[1], path, dict(os.environ))) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
