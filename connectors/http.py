"""Calls to department systems, with every failure turned into the matching ``UpstreamError``.

Connectors never let an httpx exception or a parse error escape: a timeout becomes ``UpstreamTimeout``, a refused
connection, a 5xx or rejected credentials ``UpstreamUnavailable``, and an answer that is not what the dialect
promises ``UpstreamBadResponse``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree

import httpx
import orjson
from httpx_aiohttp import AiohttpTransport

from connectors.direct import DepartmentClient, DirectPath
from gateway.exceptions import (
    UpstreamBadResponse,
    UpstreamCredentialsRejected,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.telemetry.outgoing import TracedTransport

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_CONNECT_TIMEOUT_S = 2.0
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_MAX_KEEPALIVE = 50


def make_client(base_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, transport: str = "aiohttp",
                **kwargs: Any) -> httpx.AsyncClient:
    """The one pooled client a connector uses for its department.

    ``transport="aiohttp"`` keeps the httpx API on aiohttp's connection pool, which costs a fraction of the CPU of
    httpx's own transport per upstream request (see docs/performance.md); ``"httpx"`` is httpx's default transport.
    """
    limits = httpx.Limits(max_connections=DEFAULT_MAX_CONNECTIONS, max_keepalive_connections=DEFAULT_MAX_KEEPALIVE)
    if transport == "aiohttp":
        inner: httpx.AsyncBaseTransport = AiohttpTransport(limits=limits)
    elif transport == "httpx":
        inner = httpx.AsyncHTTPTransport(limits=limits)
    else:
        raise ValueError(f"unknown transport {transport!r}: use 'aiohttp' or 'httpx'")
    kwargs["transport"] = TracedTransport(inner)  # the http.fetch span and the traceparent header
    client = DepartmentClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_s, connect=min(DEFAULT_CONNECT_TIMEOUT_S, timeout_s)),
        limits=limits,
        **kwargs,
    )
    if isinstance(inner, AiohttpTransport) and not kwargs.keys() & {"auth", "event_hooks", "cookies"}:
        client.direct = DirectPath(inner, client.base_url, client.timeout, client.headers)
    return client


class translating:  # used like a function: ``with translating("water", "facility records"):``
    """Turn a mapping failure (missing field, wrong type, bad value) into ``UpstreamBadResponse``.

    A class rather than a ``@contextmanager`` generator: connectors enter it per page and per record field group,
    and a generator-based context manager costs several times as much to enter and leave."""

    __slots__ = ("department", "what")

    def __init__(self, department: str, what: str = "response") -> None:
        self.department = department
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, traceback: Any) -> None:
        if exc is None or isinstance(exc, UpstreamError) or not isinstance(exc, MAPPING_FAILURES):
            return  # nothing to translate: an exception goes on as it is
        department = self.department
        raise UpstreamBadResponse(department, f"{department}: unexpected {self.what}: {type(exc).__name__}: {exc}"
                                  ) from exc


MAPPING_FAILURES = (KeyError, ValueError, TypeError, AttributeError, IndexError)


async def send(
    client: httpx.AsyncClient,
    department: str,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    data: Mapping[str, Any] | None = None,
    auth: httpx.Auth | tuple[str, str] | None = None,
) -> httpx.Response:
    """Send one request; return the response only if it is a 2xx."""
    content = orjson.dumps(json) if json is not None else None
    request_headers = dict(headers or {})
    if content is not None:
        request_headers.setdefault("content-type", "application/json")
    direct = getattr(client, "direct", None)
    try:
        if direct is not None and auth is None and data is None and client.auth is None and not (
                client.event_hooks["request"] or client.event_hooks["response"]):
            response = await direct.request(method, url, params=params, headers=request_headers, content=content)
        else:
            response = await client.request(
                method, url, params=params, headers=request_headers, content=content, data=data,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
            )
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(department, f"{department}: no answer within the timeout") from exc
    except httpx.TransportError as exc:
        raise UpstreamUnavailable(department, f"{department}: unreachable ({type(exc).__name__})") from exc
    if response.status_code >= 500:
        raise UpstreamUnavailable(department, f"{department}: answered HTTP {response.status_code}")
    if response.status_code in (401, 403):
        raise UpstreamCredentialsRejected(department, f"{department}: rejected the gateway's credentials "
                                                      f"(HTTP {response.status_code})", status=response.status_code)
    if response.status_code >= 400:
        raise UpstreamBadResponse(department, f"{department}: refused the request (HTTP {response.status_code})")
    return response


def parse_json(department: str, response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise UpstreamBadResponse(department, f"{department}: answer is not valid JSON") from exc


def parse_xml(department: str, response: httpx.Response) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(response.content)
    except ElementTree.ParseError as exc:
        raise UpstreamBadResponse(department, f"{department}: answer is not valid XML") from exc


async def get_json(
    client: httpx.AsyncClient, department: str, url: str, *, params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    return parse_json(department, await send(client, department, "GET", url, params=params, headers=headers))


async def post_json(
    client: httpx.AsyncClient, department: str, url: str, body: Any, *, headers: Mapping[str, str] | None = None,
) -> Any:
    return parse_json(department, await send(client, department, "POST", url, json=body, headers=headers))


async def get_xml(
    client: httpx.AsyncClient, department: str, url: str, *, params: Mapping[str, Any] | None = None,
) -> ElementTree.Element:
    return parse_xml(department, await send(client, department, "GET", url, params=params))
