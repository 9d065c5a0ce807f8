"""The lean GET client of the department clients: keep-alive reuse, a connection the department dropped, answers
that end with the connection, ``Connection: close``, concurrency — each against a real local server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connectors.http import make_client, send
from connectors.lean_http import LeanPool
from gateway.exceptions import UpstreamUnavailable


@pytest.fixture
async def server() -> AsyncIterator[tuple[TestServer, list[int]]]:
    """A department that answers /ok and notes the client port of every request (one port per connection)."""
    ports: list[int] = []

    async def ok(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        ports.append(peer[1] if peer else -1)
        if request.query.get("close"):
            return web.json_response({"n": len(ports)}, headers={"connection": "close"})
        if request.query.get("slow"):
            await asyncio.sleep(float(request.query["slow"]))
        return web.json_response({"n": len(ports), "q": request.raw_path.partition("?")[2]})

    app = web.Application()
    app.router.add_get("/ok", ok)
    test_server = TestServer(app, host="127.0.0.1", keepalive_timeout=0.2)
    await test_server.start_server()
    yield test_server, ports
    await test_server.close()


async def test_sequential_gets_reuse_one_connection(server: tuple[TestServer, list[int]]) -> None:
    test_server, ports = server
    client = make_client(f"http://127.0.0.1:{test_server.port}")
    try:
        for index in range(5):
            answer = await send(client, "water", "GET", "/ok", params={"i": index, "名": "井 盖"})
            assert answer.json()["q"] == f"i={index}&%E5%90%8D=%E4%BA%95+%E7%9B%96"
    finally:
        await client.aclose()
    assert len(ports) == 5 and len(set(ports)) == 1


async def test_a_connection_the_department_dropped_is_replaced() -> None:
    """The department answers with keep-alive, then drops the idle connection (as servers do after their idle
    timeout): the next GET goes out again on a new connection, with or without the drop noticed beforehand."""
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok")
        await writer.drain()
        writer.close()  # idle timeout, at once

    raw = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = raw.sockets[0].getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}")
    try:
        answers = [await send(client, "water", "GET", "/")]
        await asyncio.sleep(0.1)  # the close has arrived: seen before sending
        answers.append(await send(client, "water", "GET", "/"))
        answers.append(await send(client, "water", "GET", "/"))  # the close may still be in flight: retried
    finally:
        await client.aclose()
        raw.close()
    assert [a.content for a in answers] == [b"ok"] * 3 and connections == 3


async def test_connection_close_is_respected_and_concurrent_gets_all_answer(
        server: tuple[TestServer, list[int]]) -> None:
    test_server, ports = server
    client = make_client(f"http://127.0.0.1:{test_server.port}")
    try:
        await send(client, "water", "GET", "/ok", params={"close": 1})
        await send(client, "water", "GET", "/ok")
        assert len(set(ports)) == 2  # the first connection was not reused
        answers = await asyncio.gather(*(send(client, "water", "GET", "/ok", params={"slow": 0.05})
                                         for _ in range(20)))
    finally:
        await client.aclose()
    assert all(answer.status_code == 200 for answer in answers)
    assert len(set(ports[2:])) > 1  # concurrent requests had connections of their own


async def _raw_server(answer: bytes) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    raw = await asyncio.start_server(handle, "127.0.0.1", 0)
    return raw, raw.sockets[0].getsockname()[1]


async def test_an_answer_that_ends_with_the_connection() -> None:
    raw, port = await _raw_server(b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n{\"legacy\": true}")
    pool = LeanPool("127.0.0.1", port, connect_timeout=2, read_timeout=2)
    try:
        status, _, body = await pool.get(f"127.0.0.1:{port}", "/", {})
    finally:
        pool.close()
        raw.close()
    assert (status, body) == (200, b'{"legacy": true}')


async def test_garbage_and_a_truncated_answer_are_transport_errors() -> None:
    for answer in (b"SMTP READY\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"cut"):
        raw, port = await _raw_server(answer)
        client = make_client(f"http://127.0.0.1:{port}")
        try:
            with pytest.raises(UpstreamUnavailable):
                await send(client, "water", "GET", "/")
        finally:
            await client.aclose()
            raw.close()


async def test_read_timeout_closes_the_connection(server: tuple[TestServer, list[int]]) -> None:
    test_server, _ = server
    pool = LeanPool("127.0.0.1", test_server.port, connect_timeout=2, read_timeout=0.05)
    try:
        with pytest.raises(httpx.ReadTimeout):
            await pool.get(f"127.0.0.1:{test_server.port}", "/ok?slow=0.5", {})
        status, _, _ = await LeanPool("127.0.0.1", test_server.port, connect_timeout=2, read_timeout=2).get(
            f"127.0.0.1:{test_server.port}", "/ok", {})
        assert status == 200
    finally:
        pool.close()


def test_it_works_on_uvloop_the_servers_event_loop() -> None:
    """``yiwang serve`` runs on uvloop, whose transports are not ``asyncio.Transport`` subclasses."""
    import uvloop

    async def main() -> list[bytes]:
        raw, port = await _raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
        client = make_client(f"http://127.0.0.1:{port}")
        try:
            return [(await send(client, "water", "GET", "/")).content for _ in range(2)]
        finally:
            await client.aclose()
            raw.close()

    assert uvloop.run(main()) == [b"hello", b"hello"]


async def test_connections_are_bounded(server: tuple[TestServer, list[int]]) -> None:
    test_server, ports = server
    pool = LeanPool("127.0.0.1", test_server.port, connect_timeout=2, read_timeout=5, max_connections=2)
    try:
        answers = await asyncio.gather(*(pool.get(f"127.0.0.1:{test_server.port}", "/ok?slow=0.05", {})
                                         for _ in range(8)))
    finally:
        pool.close()
    assert [status for status, _, _ in answers] == [200] * 8
    assert len(set(ports)) == 2  # eight requests, two at a time, on two kept-alive connections
