"""The HTTP client of a registered connector: a ``DepartmentClient`` whose httpx bottom is ``GuardedTransport`` (so it
never takes the lean path): the allowlist checks every request and redirect hop the transport is handed, and the
connection itself is made only to an address that was resolved and checked in the same step — the name is
resolved once, every address it gave is checked in canonical form, and the socket connects to a checked address, so
a DNS answer that changes between the check and the connect (rebinding) cannot slip through. Environment proxies are
not used: through a proxy the gateway could not know the address it reaches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from contextlib import contextmanager

import httpcore
import httpx

from connectors.client import DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_KEEPALIVE, DepartmentClient, FetchHook
from gateway.registry.allowlist import Allowlist, resolve


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the allowlist admits."""

    def __init__(self, allowlist: Allowlist, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.allowlist = allowlist
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        self.allowlist.check_endpoint(host, port)
        try:
            async with asyncio.timeout(timeout):  # like httpx's own connect, the lookup is within the timeout
                addresses = await resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"{host} did not resolve within the timeout") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} does not resolve")
        self.allowlist.check_addresses(host, addresses)
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("registered connectors do not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


# httpcore's exceptions and the httpx ones connectors handle (connectors/client.py), most specific first: the first
# match wins, so a ConnectTimeout stays a ConnectTimeout and does not become a bare TimeoutException.
HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextmanager
def httpx_errors() -> Iterator[None]:
    """Raise httpcore's exceptions as httpx's; anything else (the allowlist's ForbiddenUrl, a cancellation) as is."""
    try:
        yield
    except Exception as exc:
        for core_error, httpx_error in HTTPCORE_TO_HTTPX:
            if isinstance(exc, core_error):
                raise httpx_error(str(exc)) from exc
        raise


class GuardedResponseStream(httpx.AsyncByteStream):
    """A response body read from the pool; closing it gives the connection back to the pool."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self.stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with httpx_errors():
            async for chunk in self.stream:
                yield chunk

    async def aclose(self) -> None:
        close = getattr(self.stream, "aclose", None)  # httpcore's streams have it; the AsyncIterable type does not
        if close is not None:
            with httpx_errors():
                await close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """httpx's transport over an httpcore pool that connects through ``GuardedBackend`` (httpx's own transport takes
    no network backend), configured like httpx's default transport: HTTP/1.1, no proxy, no environment."""

    def __init__(self, allowlist: Allowlist, limits: httpx.Limits) -> None:
        self.allowlist = allowlist
        self.pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allowlist))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.AsyncByteStream):
            raise RuntimeError("a synchronous request body cannot be sent by an async transport")
        await self.allowlist.on_request(request)  # ForbiddenUrl: judged on the URL's spelling, before any lookup
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw, content=request.stream,
            extensions=request.extensions)  # timeout (connect/read/write/pool), sni_hostname, trace
        with httpx_errors():
            core_response = await self.pool.handle_async_request(core_request)
        if not isinstance(core_response.stream, AsyncIterable):  # an async pool's bodies are async
            raise RuntimeError("the connection pool answered with a synchronous body")
        return httpx.Response(status_code=core_response.status, headers=core_response.headers,
                              stream=GuardedResponseStream(core_response.stream),
                              extensions=core_response.extensions)  # http_version, reason_phrase, network_stream

    async def aclose(self) -> None:
        with httpx_errors():
            await self.pool.aclose()


def guarded_client(allowlist: Allowlist, base_url: str, timeout_s: float, *, department: str = "",
                   hooks: Sequence[FetchHook] = ()) -> DepartmentClient:
    """A connector's client for ``base_url`` (checked first: ForbiddenUrl), redirects followed hop by hop under the
    allowlist, the gateway's fetch ``hooks`` seeing each exchange."""
    allowlist.check(base_url)
    limits = httpx.Limits(max_connections=DEFAULT_MAX_CONNECTIONS, max_keepalive_connections=DEFAULT_MAX_KEEPALIVE)
    return DepartmentClient(base_url, department=department, timeout_s=timeout_s, lean=False,
                            transport=GuardedTransport(allowlist, limits), hooks=hooks, follow_redirects=True,
                            trust_env=False)
