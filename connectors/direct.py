"""The direct path of a department client: plain requests straight to its connection pool.

httpx's client machinery (URL merging and re-parsing, the auth and redirect flows, the cookie jar, request and
response models, a streamed body read in 16 KB chunks) cost about 0.4 ms of CPU per department call on top of
aiohttp's own work (docs/performance.md). ``make_client`` gives the clients it builds on aiohttp's pool a
``DirectPath``; ``connectors.http.send`` takes it for the plain requests connectors make — no per-request auth, no
form body, no event hooks on the client — and httpx's full path for everything else (OAuth2 flows, the registry's
allowlist hooks, tests' ``MockTransport``/``ASGITransport`` clients). The answer is the same ``httpx.Response``
(status, headers, content), errors are the same httpx exceptions, and the call is traced like ``TracedTransport``
traces one: an ``http.fetch`` span and the ``traceparent`` header. GETs over plain HTTP go through
``connectors.lean_http`` (keep-alive connections parsed with httptools), everything else through aiohttp's session.

Cookies are not kept on this path: department APIs authenticate with keys and bearer tokens, not sessions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from opentelemetry import trace
from yarl import URL

from connectors.lean_http import LeanPool
from gateway.telemetry.outgoing import (
    ACTIVE_TRACER,
    add_trace_headers,
    end_failed_fetch_span,
    end_fetch_span,
    fetch_attributes,
    safe_target,
    safe_url,
    start_fetch_span,
)

MAX_REMEMBERED_QUOTES = 4096
MAX_REMEMBERED_TARGETS = 1024  # http.fetch span attributes kept per department client


def query_string(params: Mapping[str, Any]) -> str:
    """``str(httpx.QueryParams(params))`` — the query httpx would send — without building a ``QueryParams``: lists
    and tuples repeat their key, True/False are ``true``/``false``, None is empty, and names and values are quoted
    like ``urllib.parse.urlencode`` (which httpx uses); quoted texts are remembered (a department sees few)."""
    pairs: list[str] = []
    for key, value in params.items():
        name = _quoted(key if type(key) is str else str(key))
        if isinstance(value, (list, tuple)):
            pairs.extend(f"{name}={_quoted(_primitive(item))}" for item in value)
        else:
            pairs.append(f"{name}={_quoted(_primitive(value))}")
    return "&".join(pairs)


def _primitive(value: Any) -> str:
    if type(value) is str:
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


_quoted = lru_cache(maxsize=MAX_REMEMBERED_QUOTES)(quote_plus)


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """aiohttp's failures as the httpx exceptions ``connectors.http.send`` maps (a refused connection is a
    ``ConnectError``, not the ``ConnectTimeout`` httpx-aiohttp's own table makes of it)."""
    try:
        yield
    except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
        raise httpx.ReadTimeout(str(exc) or "timed out") from exc
    except aiohttp.ClientConnectorError as exc:
        raise httpx.ConnectError(str(exc)) from exc
    except aiohttp.ClientError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
    except OSError as exc:  # a socket error aiohttp did not wrap: still the connection, not the gateway
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc


class DirectPath:
    """Plain GET/POST requests to one department over the aiohttp session its httpx transport uses."""

    def __init__(self, transport: AiohttpTransport, base_url: httpx.URL, timeout: httpx.Timeout,
                 headers: httpx.Headers) -> None:
        self._transport = transport
        self._base = str(base_url).rstrip("/")
        self._host = base_url.host
        self._port = base_url.port or (443 if base_url.scheme == "https" else 80)
        self._timeout = aiohttp.ClientTimeout(sock_connect=timeout.connect, sock_read=timeout.read,
                                              connect=timeout.pool)
        self._headers = dict(headers)
        self._credentials_in_base = bool(base_url.userinfo)
        self._safe_base = safe_url(base_url).rstrip("/")
        self._span_attributes: dict[tuple[str, str], dict[str, str | int]] = {}
        # GETs over plain HTTP take the lean client; the rest (POST, HTTPS, credentials in the URL) aiohttp.
        self._origin = f"{base_url.scheme}://{base_url.netloc.decode('ascii')}"
        self._host_header = base_url.netloc.decode("ascii")
        self._lean = (LeanPool(self._host, self._port, connect_timeout=timeout.connect, read_timeout=timeout.read)
                      if base_url.scheme == "http" and not self._credentials_in_base else None)

    def _session(self) -> aiohttp.ClientSession:
        session = self._transport.client
        if not isinstance(session, aiohttp.ClientSession):  # shared with the transport: one pool per department
            session = self._transport.client = self._transport.get_client()
        return session

    def _target(self, url: str, params: Mapping[str, Any] | None) -> str:
        target = url if "://" in url else f"{self._base}/{url.lstrip('/')}"
        if params:
            target += ("&" if "?" in target else "?") + query_string(params)
        return target

    async def request(self, method: str, url: str, *, params: Mapping[str, Any] | None,
                      headers: Mapping[str, str], content: bytes | None) -> httpx.Response:
        target = self._target(url, params)
        request_headers = {**self._headers, **headers}
        tracer = ACTIVE_TRACER.get()
        span: trace.Span | None = None
        if tracer is not None:
            span = start_fetch_span(tracer, method, target, self._attributes)
            add_trace_headers(span, request_headers)
        try:
            if method == "GET" and content is None and self._lean is not None and target.startswith(self._origin + "/"):
                status, raw_headers, body = await self._lean.get(self._host_header, target[len(self._origin):],
                                                                 request_headers)
            else:
                status, raw_headers, body = await self._via_aiohttp(method, target, request_headers, content)
        except BaseException as exc:  # also a cancellation: the connector's timeout cancels the call
            if span is not None:
                end_failed_fetch_span(span, exc)
            raise
        if span is not None:
            end_fetch_span(span, status)
        # aiohttp has decoded any content-encoding: the headers must not make httpx decode it again
        kept = [(name, value) for name, value in raw_headers if name.lower() != b"content-encoding"]
        return httpx.Response(status, headers=kept, content=body)

    async def _via_aiohttp(self, method: str, target: str, headers: dict[str, str], content: bytes | None,
                           ) -> tuple[int, Any, bytes]:
        with _as_httpx_errors():
            # encoded=True: sent exactly as httpx encodes it (yarl would otherwise re-quote it)
            async with self._session().request(method, URL(target, encoded=True), headers=headers, data=content,
                                               allow_redirects=False, timeout=self._timeout) as answer:
                return answer.status, answer.raw_headers, await answer.read()

    def close(self) -> None:
        if self._lean is not None:
            self._lean.close()

    def _attributes(self, method: str, target: str) -> dict[str, str | int]:
        """The ``http.fetch`` attributes of a request, kept per method and URL (a connector sends the same few
        requests again and again, and cleaning a URL of credentials is the costly part)."""
        key = (method, target)
        attributes = self._span_attributes.get(key)
        if attributes is None:
            if len(self._span_attributes) >= MAX_REMEMBERED_TARGETS:
                self._span_attributes.clear()
            attributes = self._span_attributes[key] = self._new_attributes(method, target)
        return attributes

    def _new_attributes(self, method: str, target: str) -> dict[str, str | int]:
        if self._credentials_in_base or not target.startswith(self._base + "/"):  # rare: parse it
            url = httpx.URL(target)
            return fetch_attributes(method, safe_url(url), url.host,
                                    url.port or (443 if url.scheme == "https" else 80))
        return fetch_attributes(method, self._safe_base + safe_target(target[len(self._base):]), self._host,
                                self._port)


class DepartmentClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` with a ``direct`` path to its aiohttp pool (None on other transports)."""

    direct: DirectPath | None = None

    async def aclose(self) -> None:
        if self.direct is not None:
            self.direct.close()
        await super().aclose()
