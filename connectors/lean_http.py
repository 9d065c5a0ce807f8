"""A lean HTTP/1.1 client for plain requests to a department: keep-alive connections, httptools parsing.

httpx's client spends a good part of a department call's CPU on generality (URL merging and re-parsing, the auth and
redirect flows, the cookie jar, request and response models, a body streamed in chunks through httpcore). For the
one request shape department connectors make most — a GET with a query string over plain HTTP, answered with a body
of known length or in chunks — this client writes the request bytes itself and parses the answer with httptools
(the parser uvicorn uses). ``connectors.client.DepartmentClient`` sends plain GETs and JSON POSTs over ``http://``
here and everything else through httpx. Failures are httpx's exceptions, so the client maps both bottoms' failures
in one place: ``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``, ``ReadError``, ``RemoteProtocolError``,
``DecodingError``.

An idle connection the department closed in the meantime (servers drop idle keep-alive connections) is noticed
before the request is sent, or when it is lost before any byte of the answer arrived: the GET is then sent once more
on a new connection (a POST is not: it may have been received).
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

import httptools
import httpx

DEFAULT_MAX_IDLE = 32
DEFAULT_MAX_CONNECTIONS = 100  # the same bound as the httpx pool beside it
ACCEPTED_ENCODINGS = "gzip, deflate"  # what _decoded understands
MAX_REMEMBERED_QUOTES = 4096


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


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes]] | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.received = False  # a byte of the current answer arrived
        self.headers_done = False
        self.closed = False
        self.keep_alive = True

    # --- asyncio.Protocol ------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # (uvloop's is no asyncio.Transport subclass)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.headers_done and self._close_delimited():
            self._complete()  # an answer without length or chunks ends with the connection
            return
        error = _Stale() if not self.received else httpx.ReadError("the department closed the connection")
        waiter.set_exception(error)

    # --- httptools callbacks -----------------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        self._complete()

    # --- the request -------------------------------------------------------------------------------------------
    async def exchange(self, request: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        assert self.transport is not None
        self.headers, self.body, self.received, self.headers_done = [], [], False, False
        self.parser = httptools.HttpResponseParser(self)
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _complete(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), self.headers, b"".join(self.body)))

    def _fail(self, error: Exception) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.close()

    def _close_delimited(self) -> bool:
        names = {name.lower() for name, _ in self.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names


class _Stale(Exception):
    """A reused connection was closed before the answer began: safe to send the GET again."""


class LeanPool:
    """Keep-alive connections to one ``host:port``."""

    def __init__(self, host: str, port: int, *, connect_timeout: float | None, read_timeout: float | None,
                 max_idle: int = DEFAULT_MAX_IDLE, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        self.host, self.port = host, port
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.max_idle = max_idle
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(max_connections)  # requests in flight, each on a connection of its own
        self._closed = False

    async def get(self, host_header: str, target: str, headers: Mapping[str, str],
                  ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """GET ``target`` (path and query, percent-encoded); the status, raw headers and decoded body."""
        return await self.send("GET", host_header, target, headers)

    async def send(self, method: str, host_header: str, target: str, headers: Mapping[str, str],
                   body: bytes | None = None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send ``method`` to ``target`` (path and query, percent-encoded) with ``body``; the status, raw headers and
        decoded body. Only a GET is sent again when a reused connection turns out closed: a POST may have arrived."""
        lines = [f"{method} {target} HTTP/1.1", f"host: {host_header}", f"accept-encoding: {ACCEPTED_ENCODINGS}"]
        lines += [f"{name}: {value}" for name, value in headers.items()
                  if name.lower() not in ("host", "accept-encoding", "content-length")]
        if body is not None:
            lines.append(f"content-length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        async with self._slots:
            return await self._exchange(request, retry_stale=method == "GET")

    async def _exchange(self, request: bytes, *, retry_stale: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        for attempt in (1, 2):
            connection, reused = await self._acquire()
            try:
                async with asyncio.timeout(self.read_timeout):
                    status, raw_headers, body = await connection.exchange(request)
            except _Stale:
                connection.close()
                if reused and attempt == 1 and retry_stale:
                    continue
                raise httpx.ReadError("the department closed the connection") from None
            except TimeoutError:
                connection.close()
                raise httpx.ReadTimeout("no answer within the read timeout") from None
            except BaseException:  # a cancellation (the connector's timeout) or a broken answer
                connection.close()
                raise
            self._release(connection)
            return status, raw_headers, _decoded(raw_headers, body)
        raise AssertionError("unreachable")

    async def _acquire(self) -> tuple[_Connection, bool]:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and connection.transport is not None and not connection.transport.is_closing():
                return connection, True
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, protocol = await loop.create_connection(_Connection, self.host, self.port)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {self.host}:{self.port} within the timeout") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return protocol, False

    def _release(self, connection: _Connection) -> None:
        if self._closed or not connection.keep_alive or connection.closed or len(self._idle) >= self.max_idle:
            connection.close()
        else:
            self._idle.append(connection)

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()


def _decoded(headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    try:
        return _decompressed(headers, body)
    except zlib.error as exc:  # a body that does not match its content-encoding: httpx's error for it
        raise httpx.DecodingError(f"body does not decode as its content-encoding says: {exc}") from exc


def _decompressed(headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    for name, value in headers:
        if name.lower() == b"content-encoding":
            encoding = value.strip().lower()
            if encoding == b"gzip":
                return zlib.decompress(body, 16 + zlib.MAX_WBITS)
            if encoding == b"deflate":
                try:
                    return zlib.decompress(body)
                except zlib.error:
                    return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some servers send it
            if encoding not in (b"identity", b""):
                raise httpx.DecodingError(f"unsupported content-encoding {value.decode('latin-1')!r}")
    return body
