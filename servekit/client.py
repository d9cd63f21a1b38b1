"""A thin, torch-free HTTP client for service-to-service calls.

Pooled connections, connect and read timeouts, the caller's request id and remaining deadline passed
downstream, the internal token attached, and upstream errors relayed in the one JSON error shape.

Buffered calls to a plain-HTTP upstream with no proxy (every embedding the gateway relays) go straight to
urllib3's connection pool; ``requests`` serves the rest (multipart, streamed answers, proxies, TLS). Its
per-call preparation (settings merged, URL and parameters re-encoded, typing protocols checked) was about a
third of the gateway's CPU per small request, measured with py-spy.
"""

from __future__ import annotations

import json as stdlib_json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import requests
import urllib3
from flask import g, has_request_context
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from servekit.errors import ApiError, DeadlineExceeded, UpstreamUnavailable
from servekit.protocol import DEADLINE_HEADER, INTERNAL_TOKEN_HEADER, REQUEST_ID_HEADER, queue_wait_s
from servekit.scheduling import QueueMirror


@dataclass(frozen=True)
class CallContext:
    """The request id and deadline of the request being served, captured so that calls made from other
    threads (a parallel fan-out) still pass them downstream."""

    request_id: str | None = None
    deadline: float | None = None  # time.monotonic() value

    @classmethod
    def capture(cls) -> CallContext:
        if not has_request_context():
            return cls()
        return cls(request_id=g.get("request_id"), deadline=g.get("deadline"))


class UpstreamError(ApiError):
    """An error answered by another service, relayed with its status, code and message."""

    def __init__(self, status: int, body: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        found = body.get("error")
        error: Mapping[str, Any] = found if isinstance(found, dict) else {}
        relay = {k: v for k, v in headers.items() if k.lower() in ("retry-after",)}
        super().__init__(str(error.get("message") or f"upstream answered {status}"), param=error.get("param"),
                         code=str(error.get("code") or "upstream_error"), headers=relay)
        self.status = status
        self.type = str(error.get("type") or ("server_error" if status >= 500 else "invalid_request_error"))


def session_from_environment(base_url: str) -> requests.Session:
    """A session whose proxy and CA settings are read from the environment once, here. A default session reads
    them again on every call (the whole environment for proxies, ``.netrc`` on disk for credentials): a fifth of
    the gateway's CPU per small request, measured."""
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False
    return session


class ServiceClient:
    """Calls one upstream service; one instance per upstream, shared by all request threads."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        token: str | None = None,
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 60.0,
        pool_size: int = 32,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._session = session_from_environment(self.base_url)
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._direct = _direct_pool(self.base_url, self._session, pool_size)
        self.queues = QueueMirror()

    def _headers(self, extra: Mapping[str, str] | None, budget_s: float, context: CallContext) -> dict[str, str]:
        headers = {DEADLINE_HEADER: str(int(budget_s * 1000))}
        if self._token:
            headers[INTERNAL_TOKEN_HEADER] = self._token
        if context.request_id:
            headers[REQUEST_ID_HEADER] = context.request_id
        headers.update(extra or {})
        return headers

    def _budget(self, timeout_s: float | None, context: CallContext) -> float:
        budget = self.read_timeout_s if timeout_s is None else timeout_s
        if context.deadline is not None:
            budget = min(budget, context.deadline - time.monotonic())
        if budget <= 0:
            raise DeadlineExceeded(f"no time left to call the {self.name} service")
        return budget

    def admit(self, queue: str, context: CallContext | None = None) -> None:
        """Refuse (503 ``overloaded``) a call to ``queue`` that the upstream's last report says would wait past the
        request's deadline, before the caller spends anything on it (``request`` checks again when it sends)."""
        context = context or CallContext.capture()
        self.queues.refuse_if_late(queue, self._budget(None, context), self.name)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | Mapping[str, Any] | None = None,
        files: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        context: CallContext | None = None,
        stream: bool = False,
        queue: str | None = None,
    ) -> requests.Response:
        """Send one request; raise the relayed error for a non-2xx answer.

        ``context`` defaults to the current request's; pass a captured one when calling from another thread.
        ``stream`` leaves the body unread (close the response when done); the read timeout is then per chunk.
        ``queue`` names the upstream queue the call joins (a model's batcher): refused here (503) while the
        upstream's last report says the work ahead would outlast the budget, and updated from every answer.
        """
        context = context or CallContext.capture()
        budget = self._budget(timeout_s, context)
        if queue is not None:
            self.queues.refuse_if_late(queue, budget, self.name)
        call_headers = self._headers(headers, budget, context)
        try:
            if self._direct is not None and files is None and not stream and not isinstance(data, Mapping):
                response = self._send_direct(self._direct, method, path, json, data, params, call_headers, budget)
            else:
                response = self._session.request(
                    method, self.base_url + path, json=json, data=data, files=files, params=params,
                    headers=call_headers, timeout=(min(self.connect_timeout_s, budget), budget), stream=stream,
                )
        except (requests.Timeout, urllib3.exceptions.TimeoutError) as timeout:
            # urllib3 counts a refused connection as a connect timeout (its subclass): that is an unreachable
            # upstream, answered at once, not a deadline
            if not isinstance(timeout, urllib3.exceptions.NewConnectionError):
                raise DeadlineExceeded(f"the {self.name} service did not answer in time") from None
            raise self._unreachable() from None
        except (requests.ConnectionError, urllib3.exceptions.HTTPError):
            raise self._unreachable() from None
        if queue is not None and (reported := queue_wait_s(response.headers)) is not None:
            self.queues.observe(queue, reported)
        if response.status_code >= 400:
            raise self._error_from(response)
        return response

    def _send_direct(self, pool: urllib3.HTTPConnectionPool, method: str, path: str, json: Any, data: bytes | None,
                     params: Mapping[str, Any] | None, headers: dict[str, str], budget: float) -> requests.Response:
        """One buffered call through urllib3's pool, answered as the ``requests.Response`` callers read."""
        if json is not None:
            # as requests writes it: the stdlib takes integers past 64 bits and lone surrogates (relayed bodies
            # may hold them), which orjson refuses
            data = stdlib_json.dumps(json, allow_nan=False).encode()
            headers.setdefault("Content-Type", "application/json")
        url = self.base_url + path + (f"?{urlencode(params, doseq=True)}" if params else "")
        raw = pool.urlopen(method, url, body=data, headers=headers, retries=False, redirect=False,
                           timeout=urllib3.Timeout(connect=min(self.connect_timeout_s, budget), read=budget))
        response = requests.Response()
        response.status_code = raw.status
        response.headers = CaseInsensitiveDict(raw.headers)
        response._content = raw.data  # what requests itself fills when it reads a buffered body
        response.url = url
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        return response

    def _unreachable(self) -> UpstreamUnavailable:
        return UpstreamUnavailable(f"the {self.name} service is unreachable", code=f"{self.name}_unavailable")

    def _error_from(self, response: requests.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code in (502, 504) and "error" not in body:
            return self._unreachable()
        return UpstreamError(response.status_code, body, response.headers)

    def post_json(self, path: str, body: Any, *, timeout_s: float | None = None,
                  headers: Mapping[str, str] | None = None, context: CallContext | None = None,
                  queue: str | None = None) -> Any:
        return self.request("POST", path, json=body, timeout_s=timeout_s, headers=headers, context=context,
                            queue=queue).json()

    def get_json(self, path: str, *, timeout_s: float | None = None, params: Mapping[str, Any] | None = None,
                 context: CallContext | None = None) -> Any:
        return self.request("GET", path, timeout_s=timeout_s, params=params, context=context).json()

    def is_ready(self, timeout_s: float = 1.0) -> bool:
        """Whether the upstream answers ``/readyz`` with 200 (never raises)."""
        try:
            response = self._session.get(self.base_url + "/readyz", timeout=(timeout_s, timeout_s))
        except requests.RequestException:
            return False
        return response.status_code == 200

    def close(self) -> None:
        self._session.close()
        if self._direct is not None:
            self._direct.close()


def _direct_pool(base_url: str, session: requests.Session, size: int) -> urllib3.HTTPConnectionPool | None:
    """urllib3's pool for a plain-HTTP upstream reached without a proxy; None sends every call through
    ``requests``, which applies proxies and TLS settings."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or session.proxies.get("http") or session.proxies.get("all"):
        return None
    return urllib3.HTTPConnectionPool(parts.hostname or "localhost", parts.port or 80, maxsize=size, block=False)


class UpstreamSettings(Protocol):
    """What a caller of other services configures: where they are and how to reach them."""

    @property
    def internal_token(self) -> str | None: ...
    @property
    def upstream_connect_timeout_s(self) -> float: ...
    @property
    def request_timeout_s(self) -> float: ...
    @property
    def upstream_pool_size(self) -> int: ...
    def upstream_urls(self) -> Mapping[str, str]: ...


def build_clients(settings: UpstreamSettings, *,
                  client_cls: type[ServiceClient] = ServiceClient) -> dict[str, ServiceClient]:
    """One pooled client per upstream the settings name, with their internal token, connect timeout, request
    timeout and pool size."""
    return {
        name: client_cls(
            name, url, token=settings.internal_token,
            connect_timeout_s=settings.upstream_connect_timeout_s, read_timeout_s=settings.request_timeout_s,
            pool_size=settings.upstream_pool_size,
        )
        for name, url in settings.upstream_urls().items()
    }
