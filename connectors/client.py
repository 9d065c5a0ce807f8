"""The one client every department call goes through: ``DepartmentClient.request``.

Code connectors and spec connectors, GETs and POSTs, all call ``request`` (``connectors.http.send`` and its
``get_json``/``post_json``/``get_xml`` wrap it). Below it there are two bottoms, chosen per request by what the
request is, not by what the client happens to be:

- the lean keep-alive client (``connectors.lean_http``) for plain GETs and JSON POSTs over ``http://`` on the
  client's own origin — no per-request auth, no form, no scripted transport — unless made with ``lean=False``;
- httpx (``httpx.AsyncClient`` over its own transport, or the one given: the registry's guarded transport, a test's
  ``MockTransport``) for everything else: forms, ``httpx.Auth`` flows, redirects, HTTPS.

Both bottoms answer with an ``httpx.Response`` and fail with httpx's exceptions, which ``request`` maps once to the
``UpstreamError`` family (``connectors.errors``), with the answer's status. Every HTTP exchange either bottom makes —
each hop of a redirect and each retry of an auth flow too — passes through the client's fetch hooks
(``hook(exchange, proceed)``, the first hook outermost), which the gateway installs: its tracing (the ``http.fetch``
span and the ``traceparent`` header) and its plugins' ``on_fetch``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from connectors.errors import (
    UpstreamBadResponse,
    UpstreamCredentialsRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from connectors.lean_http import LeanPool, query_string

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_CONNECT_TIMEOUT_S = 2.0
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_MAX_KEEPALIVE = 50
DETAIL_EXCERPT_BYTES = 200  # of a refusal's body, in the error's detail (logs and traces only)
LEAN_METHODS = frozenset({"GET", "POST"})
DEPARTMENT_EXTENSION = "yiwang.department"  # the request extension that tells the hooks the department


@dataclass(slots=True)
class Exchange:
    """One HTTP request on its way to a department, as a fetch hook sees it. ``headers`` may be changed (the tracing
    hook adds ``traceparent``); ``url`` is what is sent (absolute, percent-encoded), for reading only."""

    department: str
    method: str
    url: str
    headers: MutableMapping[str, str]
    content: bytes | None = None


Proceed = Callable[[], Awaitable[httpx.Response]]
FetchHook = Callable[[Exchange, Proceed], Awaitable[httpx.Response]]


def run_hooks(hooks: Sequence[FetchHook], exchange: Exchange, send: Proceed) -> Awaitable[httpx.Response]:
    """``send`` wrapped by every hook, the first hook outermost."""
    proceed = send
    for hook in reversed(hooks):
        proceed = functools.partial(hook, exchange, proceed)
    return proceed()


class DepartmentClient:
    """The pooled client of one department: base URL, timeouts, connection limits, fetch hooks."""

    def __init__(self, base_url: str, *, department: str = "", timeout_s: float = DEFAULT_TIMEOUT_S,
                 lean: bool = True, transport: httpx.AsyncBaseTransport | None = None,
                 hooks: Sequence[FetchHook] = (), follow_redirects: bool = False, trust_env: bool = True) -> None:
        """``transport``: httpx's bottom (default: httpx's own over a pool); a client given one never takes the lean
        path, so whatever that transport guards or scripts sees every request."""
        limits = httpx.Limits(max_connections=DEFAULT_MAX_CONNECTIONS, max_keepalive_connections=DEFAULT_MAX_KEEPALIVE)
        timeout = httpx.Timeout(timeout_s, connect=min(DEFAULT_CONNECT_TIMEOUT_S, timeout_s))
        self.department = department
        self.hooks: tuple[FetchHook, ...] = tuple(hooks)
        self.http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, limits=limits, follow_redirects=follow_redirects, trust_env=trust_env,
            transport=HookedTransport(transport or httpx.AsyncHTTPTransport(limits=limits, trust_env=trust_env),
                                      self))
        base = self.http.base_url
        self.lean = (_LeanRoute(self.http, timeout)
                     if lean and transport is None and base.scheme == "http" and not base.userinfo else None)

    @property
    def base_url(self) -> httpx.URL:
        return self.http.base_url

    @property
    def is_closed(self) -> bool:
        """Closed by ``aclose`` (a retired connector after its drain): no request may be sent any more."""
        return self.http.is_closed

    async def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                      headers: Mapping[str, str] | None = None, json: Any = None, data: Mapping[str, Any] | None = None,
                      auth: httpx.Auth | tuple[str, str] | None = None, department: str | None = None,
                      ) -> httpx.Response:
        """Send one request; return the answer only if it is a 2xx, else raise the matching ``UpstreamError``."""
        department = department or self.department
        content = orjson.dumps(json) if json is not None else None
        request_headers = dict(headers) if headers else {}
        if content is not None:
            request_headers.setdefault("content-type", "application/json")
        lean = self.lean
        try:
            if (lean is not None and method in LEAN_METHODS and auth is None and data is None
                    and (target := lean.target(url, params)) is not None):
                response = await lean.send(department, method, target, request_headers, content, self.hooks)
            else:
                response = await self.http.request(
                    method, url, params=params, headers=request_headers, content=content, data=data,
                    auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                    extensions={DEPARTMENT_EXTENSION: department})
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(department, f"{department}: no answer within the timeout ({describe_failure(exc)})"
                                  ) from exc
        except httpx.DecodingError as exc:
            raise UpstreamBadResponse(department, f"{department}: answer could not be decoded: "
                                                  f"{describe_failure(exc)}") from exc
        except httpx.TooManyRedirects as exc:
            raise UpstreamBadResponse(department, f"{department}: too many redirects") from exc
        except httpx.RequestError as exc:  # refused or broken connections, the allowlist's refusals
            raise UpstreamUnavailable(department, f"{department}: unreachable: {describe_failure(exc)}") from exc
        return checked(department, response)

    async def aclose(self) -> None:
        if self.lean is not None:
            self.lean.pool.close()
        await self.http.aclose()


def checked(department: str, response: httpx.Response) -> httpx.Response:
    """The answer if its status is not an error; the ``UpstreamError`` its status means otherwise."""
    status = response.status_code
    if status < 400:
        return response
    if status >= 500:
        raise UpstreamUnavailable(department, f"{department}: answered HTTP {status}{_excerpt(response)}")
    if status in (401, 403):
        raise UpstreamCredentialsRejected(department, f"{department}: rejected the gateway's credentials "
                                                      f"(HTTP {status})", status=status)  # no body: it may echo them
    raise UpstreamBadResponse(department, f"{department}: refused the request (HTTP {status}){_excerpt(response)}")


def _excerpt(response: httpx.Response) -> str:
    """The start of a refusal's body, for the detail: departments often say there what they did not like."""
    text = response.content[:DETAIL_EXCERPT_BYTES].decode("utf-8", "replace").strip()
    return f": {' '.join(text.split())}" if text else ""


def describe_failure(exc: BaseException) -> str:
    """An exception's text for a detail: a missing key is said to be missing (``KeyError``'s text is only the key);
    the exception's type is not repeated (it is the detail's cause, which logs and traces name)."""
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return f"{exc.args[0]!r} is missing"
    return str(exc) or type(exc).__name__


class HookedTransport(httpx.AsyncBaseTransport):
    """httpx's bottom seen through the client's fetch hooks: each request the httpx client sends (each redirect hop,
    each auth retry) is one exchange, answered with its body read."""

    def __init__(self, inner: httpx.AsyncBaseTransport, client: DepartmentClient) -> None:
        self.inner = inner
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        hooks = self.client.hooks
        if not hooks:
            return await self.inner.handle_async_request(request)
        department = request.extensions.get(DEPARTMENT_EXTENSION) or self.client.department
        try:
            content: bytes | None = request.content or None
        except httpx.RequestNotRead:  # a streamed body: the hooks do not see it
            content = None

        async def send() -> httpx.Response:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response

        return await run_hooks(hooks, Exchange(department, request.method, str(request.url), request.headers,
                                               content), send)

    async def aclose(self) -> None:
        await self.inner.aclose()


class LeanResponse(httpx.Response):
    """An answer of the lean path: its ``request`` (hence ``url``) is built only if someone asks for it."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], content: bytes, method: str,
                 url: str) -> None:
        super().__init__(status, headers=headers, content=content)
        self._lean_target = (method, url)

    @property
    def request(self) -> httpx.Request:
        if self._request is None:
            self._request = httpx.Request(*self._lean_target)
        return self._request

    @request.setter
    def request(self, value: httpx.Request) -> None:
        self._request = value


class _LeanRoute:
    """Plain requests to the client's own ``http://`` origin over ``connectors.lean_http``'s keep-alive connections."""

    def __init__(self, http: httpx.AsyncClient, timeout: httpx.Timeout) -> None:
        base = http.base_url
        self.base = str(base).rstrip("/")
        self.origin = f"{base.scheme}://{base.netloc.decode('ascii')}"
        self.host_header = base.netloc.decode("ascii")
        # what httpx would send besides the request's own headers (accept, user-agent, …); the pool sets the encoding
        self.default_headers = {name: value for name, value in http.headers.items() if name != "accept-encoding"}
        self.pool = LeanPool(base.host, base.port or 80, connect_timeout=timeout.connect, read_timeout=timeout.read)

    def target(self, url: str, params: Mapping[str, Any] | None) -> str | None:
        """The absolute URL of the request if the lean path can send it, else None."""
        target = url if "://" in url else f"{self.base}/{url.lstrip('/')}"
        if not target.startswith(self.origin + "/"):
            return None
        if params:
            target += ("&" if "?" in target else "?") + query_string(params)
        return target

    async def send(self, department: str, method: str, url: str, headers: dict[str, str], content: bytes | None,
                   hooks: Sequence[FetchHook]) -> httpx.Response:
        exchange = Exchange(department, method, url, {**self.default_headers, **headers}, content)

        async def send() -> httpx.Response:
            status, raw_headers, body = await self.pool.send(method, self.host_header, url[len(self.origin):],
                                                             exchange.headers, exchange.content)
            # the pool has decoded any content-encoding: the headers must not make httpx decode it again
            kept = [(name, value) for name, value in raw_headers if name.lower() != b"content-encoding"]
            return LeanResponse(status, kept, body, method, url)

        return await (run_hooks(hooks, exchange, send) if hooks else send())
