"""The department client's two bottoms, each against a real local server: the lean keep-alive client (reuse, a
connection the department dropped, answers that end with the connection, ``Connection: close``, concurrency,
bounds) and httpx; both answer alike, fail with the same ``UpstreamError``s and send the same bytes."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from connectors.client import DepartmentClient
from connectors.http import send
from connectors.lean_http import LeanPool, query_string
from connectors.records import ComponentQuery, EventQuery
from gateway.exceptions import UpstreamBadResponse, UpstreamTimeout, UpstreamUnavailable
from tests.conftest import MockDepartments
from tests.served import ThreadedServers, free_port

PARAMS = {"district_codes": "370811,370812", "type_codes": "0113", "page": 2, "size": 7}
PAYLOAD = {"code": 0, "msg": "ok", "data": {"records": [{"facility_code": str(i) * 16} for i in range(300)]}}


class Server:
    """A department on a loopback port that answers /ok (noting the client port of every request: one port per
    connection), /gzip and /chunked."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.port = free_port()

    async def ok(self, request: Request) -> Response:
        self.ports.append(request.client.port if request.client else -1)
        if request.query_params.get("close"):
            return JSONResponse({"n": len(self.ports)}, headers={"connection": "close"})
        if request.query_params.get("slow"):
            await asyncio.sleep(float(request.query_params["slow"]))
        return JSONResponse({"n": len(self.ports), "q": request.url.query})

    async def gzipped(self, request: Request) -> Response:
        return Response(gzip.compress(orjson.dumps(PAYLOAD)),
                        headers={"content-encoding": "gzip", "content-type": "application/json"})

    async def chunked(self, request: Request) -> Response:
        data = orjson.dumps(PAYLOAD)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), 1000):
                yield data[start:start + 1000]

        return StreamingResponse(chunks(), media_type="application/json")  # no length: chunked

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/ok", self.ok), Route("/gzip", self.gzipped), Route("/chunked", self.chunked)])


@pytest.fixture(scope="module")
def served() -> Iterator[Server]:
    server = Server()
    with ThreadedServers([(server.app(), server.port)]):
        yield server


@pytest.fixture
def server(served: Server) -> Server:
    served.ports.clear()
    return served


async def test_sequential_gets_reuse_one_connection(server: Server) -> None:
    ports = server.ports
    client = DepartmentClient(f"http://127.0.0.1:{server.port}")
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
    client = DepartmentClient(f"http://127.0.0.1:{port}")
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
        server: Server) -> None:
    ports = server.ports
    client = DepartmentClient(f"http://127.0.0.1:{server.port}")
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
        client = DepartmentClient(f"http://127.0.0.1:{port}")
        try:
            with pytest.raises(UpstreamUnavailable):
                await send(client, "water", "GET", "/")
        finally:
            await client.aclose()
            raw.close()


async def test_read_timeout_closes_the_connection(server: Server) -> None:
    pool = LeanPool("127.0.0.1", server.port, connect_timeout=2, read_timeout=0.05)
    try:
        with pytest.raises(httpx.ReadTimeout):
            await pool.get(f"127.0.0.1:{server.port}", "/ok?slow=0.5", {})
        status, _, _ = await LeanPool("127.0.0.1", server.port, connect_timeout=2, read_timeout=2).get(
            f"127.0.0.1:{server.port}", "/ok", {})
        assert status == 200
    finally:
        pool.close()


def test_it_works_on_uvloop_the_servers_event_loop() -> None:
    """``yiwang serve`` runs on uvloop, whose transports are not ``asyncio.Transport`` subclasses."""
    import uvloop

    async def main() -> list[bytes]:
        raw, port = await _raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
        client = DepartmentClient(f"http://127.0.0.1:{port}")
        try:
            return [(await send(client, "water", "GET", "/")).content for _ in range(2)]
        finally:
            await client.aclose()
            raw.close()

    assert uvloop.run(main()) == [b"hello", b"hello"]


async def test_connections_are_bounded(server: Server) -> None:
    ports = server.ports
    pool = LeanPool("127.0.0.1", server.port, connect_timeout=2, read_timeout=5, max_connections=2)
    try:
        answers = await asyncio.gather(*(pool.get(f"127.0.0.1:{server.port}", "/ok?slow=0.05", {})
                                         for _ in range(8)))
    finally:
        pool.close()
    assert [status for status, _, _ in answers] == [200] * 8
    assert len(set(ports)) == 2  # eight requests, two at a time, on two kept-alive connections


# --- the lean path and httpx's answer alike ------------------------------------------------------------------------
def _count_httpx_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    taken: list[str] = []

    async def request(self: httpx.AsyncClient, method: str, url: Any, **kwargs: Any) -> httpx.Response:
        taken.append(f"{method} {url}")
        return await original(self, method, url, **kwargs)

    original = httpx.AsyncClient.request
    monkeypatch.setattr(httpx.AsyncClient, "request", request)
    return taken


async def test_a_plain_request_takes_the_lean_path_and_answers_like_httpx(
        mock_departments: MockDepartments, monkeypatch: pytest.MonkeyPatch) -> None:
    lean_client = DepartmentClient(mock_departments.url("water"))
    httpx_client = DepartmentClient(mock_departments.url("water"), lean=False)
    assert lean_client.lean is not None and httpx_client.lean is None
    taken = _count_httpx_requests(monkeypatch)
    try:
        since = mock_departments.total("water")
        lean = await send(lean_client, "water", "GET", "/api/v1/facilities", params=PARAMS)
        assert taken == []
        plain = await send(httpx_client, "water", "GET", "/api/v1/facilities", params=PARAMS)
        assert len(taken) == 1
    finally:
        await lean_client.aclose()
        await httpx_client.aclose()
    assert lean.status_code == plain.status_code == 200
    assert lean.content == plain.content and lean.json()["data"]["total"] > 7
    assert lean.headers["content-type"] == plain.headers["content-type"]
    assert lean.url == plain.url
    sent = mock_departments.requests_since("water", since)
    assert len(sent) == 2 and sent[0]["query"] == sent[1]["query"]  # the same query string, byte for byte


async def test_a_json_post_takes_the_lean_path_and_answers_like_httpx(
        mock_departments: MockDepartments, monkeypatch: pytest.MonkeyPatch) -> None:
    lean_client = DepartmentClient(mock_departments.url("transport"))
    httpx_client = DepartmentClient(mock_departments.url("transport"), lean=False)
    ids = [item["assetId"] for item in (await send(httpx_client, "transport", "GET", "/v2/assets")).json()["items"][:3]]
    taken = _count_httpx_requests(monkeypatch)
    try:
        lean = await asyncio.gather(*(send(lean_client, "transport", "POST", "/v2/assets:batchGet",
                                           json={"assetIds": ids}) for _ in range(20)))
        assert taken == []
        plain = await send(httpx_client, "transport", "POST", "/v2/assets:batchGet", json={"assetIds": ids})
    finally:
        await lean_client.aclose()
        await httpx_client.aclose()
    assert {answer.content for answer in lean} == {plain.content}
    assert [item["assetId"] for item in plain.json()["items"]] == ids


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "httpx"])
async def test_failures_are_the_same_upstream_errors_on_both_paths(mock_departments: MockDepartments,
                                                                   lean: bool) -> None:
    client = DepartmentClient(mock_departments.url("water"), timeout_s=0.5, lean=lean)
    try:
        with pytest.raises(UpstreamBadResponse):
            await send(client, "water", "GET", "/api/v1/facilities", params={"size": "0"})  # the dialect's 400
        mock_departments.set_faults("water", down=True)
        with pytest.raises(UpstreamUnavailable):
            await send(client, "water", "GET", "/api/v1/health")
        mock_departments.set_faults("water", latency_ms=2000)
        with pytest.raises(UpstreamTimeout):
            await send(client, "water", "GET", "/api/v1/health")
    finally:
        mock_departments.reset()
        await client.aclose()
    refused = DepartmentClient("http://127.0.0.1:9", lean=lean)  # nothing listens on the discard port
    try:
        with pytest.raises(UpstreamUnavailable):
            await send(refused, "water", "GET", "/api/v1/health")
    finally:
        await refused.aclose()


async def test_auth_and_forms_take_httpx_path(mock_departments: MockDepartments,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    client = DepartmentClient(mock_departments.url("water"))
    taken = _count_httpx_requests(monkeypatch)
    try:
        await send(client, "water", "GET", "/api/v1/health", auth=("user", "secret"))
        with pytest.raises(UpstreamBadResponse):
            await send(client, "water", "POST", "/api/v1/health", data={"a": "b"})
    finally:
        await client.aclose()
    assert len(taken) == 2


def test_a_scripted_or_https_client_never_takes_the_lean_path() -> None:
    assert DepartmentClient("http://water", transport=httpx.MockTransport(lambda r: httpx.Response(200))).lean is None
    assert DepartmentClient("https://water.example").lean is None
    assert DepartmentClient("http://u:pw@water.example").lean is None


@pytest.mark.parametrize("base", ["http://127.0.0.1:9701", "http://127.0.0.1:9701/gis/"])
def test_the_lean_path_sends_the_url_httpx_would(base: str) -> None:
    client = DepartmentClient(base)
    assert client.lean is not None
    params = {"district_codes": "370811,370812", "api_key": "S3CRET", "名称": "井 盖"}
    for path in ("/api/v1/facilities", "api/v1/facilities"):
        assert client.lean.target(path, params) == str(client.http.build_request("GET", path, params=params).url)
    assert client.lean.target("http://elsewhere.example/x", None) is None  # another origin: httpx's path


async def test_compressed_and_chunked_answers_arrive_decoded_like_httpx(server: Server) -> None:
    """A department behind a proxy that gzips and streams: the lean path hands over the same decoded bytes."""
    base = f"http://127.0.0.1:{server.port}"
    lean_client, httpx_client = DepartmentClient(base), DepartmentClient(base, lean=False)
    try:
        for path in ("/gzip", "/chunked"):
            lean = await send(lean_client, "water", "GET", path)
            plain = await send(httpx_client, "water", "GET", path)
            assert orjson.loads(lean.content) == orjson.loads(plain.content) == PAYLOAD
            assert "content-encoding" not in lean.headers
    finally:
        await lean_client.aclose()
        await httpx_client.aclose()


@pytest.mark.parametrize("params", [
    {"district_codes": "370811,370812", "page": 1, "size": 1000},
    {"q": "济宁 任城区", "flag": True, "off": False, "empty": None, "ratio": 0.5},
    {"ids": ["a b", "c&d", "e=f"], "tuple": ("1", 2), "none": []},
    {"already": "%20encoded+plus", "slash/key": "x/y?z#w", 3: "numeric key"},
])
def test_the_query_string_is_the_one_httpx_sends(params: dict[Any, Any]) -> None:
    expected = str(httpx.QueryParams(params))
    assert query_string(params) == expected
    assert query_string(params) == expected  # again, from the remembered quotes


@pytest.mark.parametrize("department", ["water", "transport", "environment", "housing", "citymgmt"])
async def test_every_code_connector_reads_the_same_records_over_either_path(
        mock_departments: MockDepartments, department: str) -> None:
    """The setting's two values (``YIWANG_HTTP_TRANSPORT=lean|httpx``) give the same answers: searches (GETs) and
    batch lookups (a POST for transport)."""
    from gateway.departments import build_connectors
    from tests.conftest import gateway_settings

    answers: list[tuple[Any, ...]] = []
    for transport in ("lean", "httpx"):
        connectors = build_connectors(gateway_settings(mock_departments, http_transport=transport))
        connector = connectors.get(department)
        assert connector is not None
        assert (connector.client.lean is not None) == (transport == "lean")
        try:
            if department == "citymgmt":  # a case system: events, not components
                events = await connector.search_events(EventQuery(), None, 40)
                found_events = await connector.get_events([event.id for event in events.items[::3]])
                answers.append((events.items, events.total, sorted(found_events, key=lambda event: event.id)))
            else:
                page = await connector.search_components(ComponentQuery(), None, 40)
                found = await connector.get_components([record.id for record in page.items[::3]])
                answers.append((page.items, page.total, sorted(found, key=lambda record: record.id)))
        finally:
            for each in connectors:
                await each.aclose()
    assert answers[0][0] and answers[0][2]
    assert answers[0] == answers[1]


def test_registered_connectors_never_take_the_lean_path() -> None:
    """The registry's clients send everything through the guarded transport: the allowlist sees every request and
    every connection (tests/test_ssrf_guard.py); a fast path must not go around it."""
    from gateway.registry.allowlist import Allowlist
    from gateway.registry.egress import GuardedTransport, guarded_client

    client = guarded_client(Allowlist(["127.0.0.1"]), "http://127.0.0.1:9", 1.0)
    assert client.lean is None
    assert isinstance(client.http._transport.inner, GuardedTransport)  # type: ignore[attr-defined]
