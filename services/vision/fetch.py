"""Fetching images from URLs, off by default and fenced in when on.

Only http(s), only allow-listed host names, and never an address that is private, loopback, link-local,
multicast or reserved. The host is resolved once, every address is checked, and the connection goes to the
checked address (the Host header and TLS name stay the host's), so a second DNS answer cannot swap in an
internal address. Redirects are not followed; downloads have timeouts and a size cap.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

from servekit.errors import Forbidden, InvalidInput, PayloadTooLarge, UnprocessableInput

URL_PREFIXES = ("http://", "https://")
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class UrlPolicy:
    enabled: bool
    allowed_hosts: tuple[str, ...]
    timeout_s: float
    max_bytes: int
    allow_private: bool = False


def looks_like_url(value: str) -> bool:
    """A scheme-like prefix: such strings are treated as URLs, never as base64 or file paths."""
    head = value[:16].lower()
    return "://" in head and not head.startswith("data:")


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Exact host names, or ``.example.com`` entries that also match every subdomain."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower().rstrip(".")
        if entry.startswith("."):
            if host.endswith(entry) or host == entry[1:]:
                return True
        elif host == entry:
            return True
    return False


def address_is_public(address: str) -> bool:
    """Whether ``address`` is a globally routable unicast address (IPv4-mapped IPv6 unwrapped)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified or not ip.is_global)


class UrlFetcher:
    """Downloads one image per call under :class:`UrlPolicy`; every refusal is a clear 4xx."""

    def __init__(self, policy: UrlPolicy) -> None:
        self.policy = policy

    def fetch(self, url: str, *, param: str) -> bytes:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise InvalidInput(f"URL scheme {scheme!r} is not accepted; send the image bytes instead",
                               param=param, code="unsupported_url_scheme")
        if not self.policy.enabled:
            raise InvalidInput("image URLs are disabled on this server; send the image bytes instead",
                               param=param, code="urls_disabled")
        host = parts.hostname or ""
        if not host or not host_allowed(host, self.policy.allowed_hosts):
            raise Forbidden(f"host {host!r} is not on the allow list", param=param, code="url_host_not_allowed")
        port = parts.port or (443 if scheme == "https" else 80)
        address = self._resolve(host, port, param)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return self._download(scheme, host, address, port, path, param)

    def _resolve(self, host: str, port: int, param: str) -> str:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise UnprocessableInput(f"host {host!r} does not resolve", param=param, code="url_fetch_failed") \
                from None
        addresses = [str(info[4][0]) for info in infos]
        if not addresses:
            raise UnprocessableInput(f"host {host!r} does not resolve", param=param, code="url_fetch_failed")
        if not self.policy.allow_private and not all(address_is_public(a) for a in addresses):
            raise Forbidden(f"host {host!r} resolves to a non-public address", param=param,
                            code="url_address_not_allowed")
        return addresses[0]

    def _download(self, scheme: str, host: str, address: str, port: int, path: str, param: str) -> bytes:
        timeout = urllib3.Timeout(connect=self.policy.timeout_s, read=self.policy.timeout_s)
        pool: urllib3.HTTPConnectionPool
        if scheme == "https":
            pool = urllib3.HTTPSConnectionPool(address, port, timeout=timeout, retries=False,
                                               server_hostname=host, assert_hostname=host)
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
        try:
            response = pool.urlopen("GET", path, headers={"Host": host, "Accept": "image/*"}, redirect=False,
                                    preload_content=False, assert_same_host=False)
            try:
                if response.status != 200:
                    raise UnprocessableInput(f"fetching the image answered HTTP {response.status}", param=param,
                                             code="url_fetch_failed")
                return self._read_capped(response, param)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError:
            raise UnprocessableInput("the image URL could not be fetched", param=param,
                                     code="url_fetch_failed") from None
        finally:
            pool.close()

    def _read_capped(self, response: urllib3.BaseHTTPResponse, param: str) -> bytes:
        deadline = time.monotonic() + self.policy.timeout_s
        received = bytearray()
        while chunk := response.read(_CHUNK):
            received += chunk
            if len(received) > self.policy.max_bytes:
                raise PayloadTooLarge(f"the image at the URL is larger than {self.policy.max_bytes} bytes",
                                      param=param, code="image_too_large")
            if time.monotonic() > deadline:
                raise UnprocessableInput("the image download took too long", param=param,
                                         code="url_fetch_failed")
        return bytes(received)
