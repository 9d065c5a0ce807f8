"""Calls to department systems, with every failure turned into the matching ``UpstreamError``.

Connectors never let an httpx exception or a parse error escape: a timeout becomes ``UpstreamTimeout``, a refused
connection, a 5xx or rejected credentials ``UpstreamUnavailable``, and an answer that is not what the dialect
promises ``UpstreamBadResponse``. The errors' ``detail`` says what happened (for logs, traces and the department's
operator), chained to the exception behind it; callers only ever see the code's generic ``message``.
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
DETAIL_EXCERPT_BYTES = 200  # of a refusal's body, in the error's detail (logs and traces only)


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
        raise UpstreamBadResponse(department, f"{department}: unexpected {self.what}: {describe_failure(exc)}"
                                  ) from exc


MAPPING_FAILURES = (KeyError, ValueError, TypeError, AttributeError, IndexError, ArithmeticError)


def describe_failure(exc: BaseException) -> str:
    """An exception's text for a detail: a missing key is said to be missing (``KeyError``'s text is only the key);
    the exception's type is not repeated (it is the detail's cause, which logs and traces name)."""
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return f"{exc.args[0]!r} is missing"
    return str(exc) or type(exc).__name__


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
        raise UpstreamTimeout(department, f"{department}: no answer within the timeout ({describe_failure(exc)})"
                              ) from exc
    except httpx.DecodingError as exc:
        raise UpstreamBadResponse(department, f"{department}: answer could not be decoded: {describe_failure(exc)}"
                                  ) from exc
    except httpx.TooManyRedirects as exc:
        raise UpstreamBadResponse(department, f"{department}: too many redirects") from exc
    except httpx.RequestError as exc:  # refused or broken connections, the allowlist's refusals
        raise UpstreamUnavailable(department, f"{department}: unreachable: {describe_failure(exc)}") from exc
    status = response.status_code
    if status >= 500:
        raise UpstreamUnavailable(department, f"{department}: answered HTTP {status}{_excerpt(response)}")
    if status in (401, 403):
        raise UpstreamCredentialsRejected(department, f"{department}: rejected the gateway's credentials "
                                                      f"(HTTP {status})", status=status)  # no body: it may echo them
    if status >= 400:
        raise UpstreamBadResponse(department, f"{department}: refused the request (HTTP {status}){_excerpt(response)}")
    return response


def _excerpt(response: httpx.Response) -> str:
    """The start of a refusal's body, for the detail: departments often say there what they did not like."""
    text = response.content[:DETAIL_EXCERPT_BYTES].decode("utf-8", "replace").strip()
    return f": {' '.join(text.split())}" if text else ""


def parse_json(department: str, response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise UpstreamBadResponse(department, f"{department}: answer is not valid JSON ({describe_failure(exc)})"
                                  ) from exc


def parse_xml(department: str, response: httpx.Response) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(response.content)
    except ElementTree.ParseError as exc:
        raise UpstreamBadResponse(department, f"{department}: answer is not valid XML ({describe_failure(exc)})"
                                  ) from exc


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
