"""Image URLs: off by default; when on, only allow-listed hosts on public addresses, capped and timed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from servekit.errors import ApiError
from services.vision.fetch import UrlFetcher, UrlPolicy, address_is_public, host_allowed, looks_like_url
from tests.support.media import photo_png

PHOTO = photo_png("chelsea")


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.end_headers()
            return
        if self.path != "/chelsea.png":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PHOTO)))
        self.end_headers()
        self.wfile.write(PHOTO)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def fetcher(**overrides: object) -> UrlFetcher:
    policy = {"enabled": True, "allowed_hosts": ("127.0.0.1",), "timeout_s": 2.0, "max_bytes": 10**6,
              "allow_private": True, **overrides}
    return UrlFetcher(UrlPolicy(**policy))  # type: ignore[arg-type]


def fetch_error(fetch: UrlFetcher, url: str) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        fetch.fetch(url, param="input[0]")
    assert caught.value.param == "input[0]"
    return caught.value.status, caught.value.code


@pytest.mark.parametrize(
    ("address", "public"),
    [("93.184.216.34", True), ("2606:4700::1111", True), ("10.1.2.3", False), ("172.16.0.1", False),
     ("192.168.1.1", False), ("127.0.0.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
     ("0.0.0.0", False), ("224.0.0.1", False), ("::1", False), ("fe80::1", False), ("fc00::1", False),
     ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False), ("::", False)],
)
def test_only_global_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert address_is_public(address) is public


def test_host_allow_list_matches_exact_names_and_dotted_suffixes() -> None:
    allowed = ("images.example.com", ".cdn.example.org")
    assert host_allowed("images.example.com", allowed)
    assert host_allowed("IMAGES.example.com.", allowed)
    assert host_allowed("a.b.cdn.example.org", allowed)
    assert host_allowed("cdn.example.org", allowed)
    assert not host_allowed("evil-images.example.com", allowed)
    assert not host_allowed("cdn.example.org.evil.net", allowed)


def test_strings_with_a_scheme_are_urls_and_base64_is_not() -> None:
    assert looks_like_url("https://example.com/a.png") and looks_like_url("file:///etc/passwd")
    assert not looks_like_url("iVBORw0KGgoAAAANSUhEUgAA") and not looks_like_url("data:image/png;base64,AAAA")
    assert not looks_like_url("/etc/passwd")


def test_allowed_host_is_fetched(server_url: str) -> None:
    assert fetcher().fetch(f"{server_url}/chelsea.png", param="input[0]") == PHOTO


def test_urls_are_refused_when_disabled(server_url: str) -> None:
    assert fetch_error(fetcher(enabled=False), f"{server_url}/chelsea.png") == (400, "urls_disabled")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x.png", "gopher://127.0.0.1/"])
def test_other_schemes_are_refused(url: str) -> None:
    assert fetch_error(fetcher(), url) == (400, "unsupported_url_scheme")


def test_host_off_the_list_is_refused(server_url: str) -> None:
    url = server_url.replace("127.0.0.1", "localhost") + "/chelsea.png"
    assert fetch_error(fetcher(), url) == (403, "url_host_not_allowed")


def test_loopback_is_refused_after_resolution_even_when_listed(server_url: str) -> None:
    assert fetch_error(fetcher(allow_private=False), f"{server_url}/chelsea.png") == (403, "url_address_not_allowed")
    listed = fetcher(allow_private=False, allowed_hosts=("localhost",))
    port = server_url.rsplit(":", 1)[1]
    assert fetch_error(listed, f"http://localhost:{port}/chelsea.png") == (403, "url_address_not_allowed")


def test_download_over_the_cap_is_413(server_url: str) -> None:
    assert fetch_error(fetcher(max_bytes=1000), f"{server_url}/chelsea.png") == (413, "image_too_large")


def test_redirects_are_not_followed(server_url: str) -> None:
    assert fetch_error(fetcher(), f"{server_url}/redirect") == (422, "url_fetch_failed")


def test_missing_resource_and_dead_port_are_422(server_url: str) -> None:
    assert fetch_error(fetcher(), f"{server_url}/nothing.png") == (422, "url_fetch_failed")
    assert fetch_error(fetcher(), "http://127.0.0.1:9/chelsea.png") == (422, "url_fetch_failed")
