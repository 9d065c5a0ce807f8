"""Department clients on aiohttp's pool send plain requests directly: the same answers and errors as httpx's path,
traced the same way, and httpx's full path for what it alone handles (per-request auth, forms, event hooks)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import httpx
import orjson
import pytest

from connectors.http import make_client, send
from gateway.exceptions import UpstreamBadResponse, UpstreamTimeout, UpstreamUnavailable
from tests.conftest import MockDepartments

PARAMS = {"district_codes": "370811,370812", "type_codes": "0113", "page": 2, "size": 7}


def _forbid_httpx_path(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    taken: list[str] = []

    async def request(self: httpx.AsyncClient, method: str, url: Any, **kwargs: Any) -> httpx.Response:
        taken.append(str(url))
        return await original(self, method, url, **kwargs)

    original = httpx.AsyncClient.request
    monkeypatch.setattr(httpx.AsyncClient, "request", request)
    return taken


async def test_a_plain_request_takes_the_direct_path_and_answers_like_httpx(
        mock_departments: MockDepartments, monkeypatch: pytest.MonkeyPatch) -> None:
    direct_client = make_client(mock_departments.url("water"))
    httpx_client = make_client(mock_departments.url("water"), transport="httpx")
    assert direct_client.direct is not None and getattr(httpx_client, "direct", None) is None
    taken = _forbid_httpx_path(monkeypatch)
    try:
        since = mock_departments.total("water")
        direct = await send(direct_client, "water", "GET", "/api/v1/facilities", params=PARAMS)
        assert taken == []
        plain = await send(httpx_client, "water", "GET", "/api/v1/facilities", params=PARAMS)
        assert len(taken) == 1
    finally:
        await direct_client.aclose()
        await httpx_client.aclose()
    assert direct.status_code == plain.status_code == 200
    assert direct.content == plain.content and direct.json()["data"]["total"] > 7
    assert direct.headers["content-type"] == plain.headers["content-type"]
    sent = mock_departments.requests_since("water", since)
    assert len(sent) == 2 and sent[0]["query"] == sent[1]["query"]  # the same query string, byte for byte


async def test_direct_path_errors_are_the_upstream_errors(mock_departments: MockDepartments) -> None:
    client = make_client(mock_departments.url("water"), timeout_s=0.5)
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
    refused = make_client("http://127.0.0.1:9")  # nothing listens on the discard port
    try:
        with pytest.raises(UpstreamUnavailable):
            await send(refused, "water", "GET", "/api/v1/health")
    finally:
        await refused.aclose()


async def test_auth_forms_and_hooks_take_httpx_path(mock_departments: MockDepartments,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    hooked = make_client(mock_departments.url("water"), event_hooks={"request": [hook]})
    plain = make_client(mock_departments.url("water"))
    taken = _forbid_httpx_path(monkeypatch)
    try:
        assert hooked.direct is None
        await send(hooked, "water", "GET", "/api/v1/health")
        await send(plain, "water", "GET", "/api/v1/health", auth=("user", "secret"))
        with pytest.raises(UpstreamBadResponse):
            await send(plain, "water", "POST", "/api/v1/health", data={"a": "b"})
        plain.event_hooks = {"request": [hook], "response": []}  # hooks added later are honoured too
        await send(plain, "water", "GET", "/api/v1/health")
    finally:
        await hooked.aclose()
        await plain.aclose()
    assert len(taken) == 4 and seen == ["/api/v1/health", "/api/v1/health"]


async def test_concurrent_direct_posts_share_the_transports_pool(mock_departments: MockDepartments) -> None:
    """POSTs take aiohttp's session, the one the client's httpx transport uses; closing the client closes it."""
    client = make_client(mock_departments.url("transport"))
    assert client.direct is not None
    try:
        answers = await asyncio.gather(*(send(client, "transport", "POST", "/v2/assets:batchGet",
                                              json={"assetIds": []}) for _ in range(20)))
        session = client.direct._transport.client
        assert isinstance(session, aiohttp.ClientSession) and not session.closed
    finally:
        await client.aclose()
    assert all(answer.status_code == 200 for answer in answers)
    assert session.closed


@pytest.mark.parametrize("base", ["http://127.0.0.1:9701", "http://127.0.0.1:9701/gis/", "http://u:pw@h.example"])
def test_span_attributes_name_the_url_as_httpx_would_and_hide_credentials(base: str) -> None:
    from gateway.telemetry.outgoing import _attributes

    client = make_client(base)
    assert client.direct is not None
    params = {"district_codes": "370811,370812", "api_key": "S3CRET", "名称": "井 盖"}
    target = client.direct._target("/api/v1/facilities", params)
    direct = client.direct._attributes("GET", target)
    via_httpx = _attributes(client.build_request("GET", "/api/v1/facilities", params=params))
    assert direct == via_httpx
    assert "S3CRET" not in str(direct) and "pw" not in str(direct)


async def test_compressed_and_chunked_answers_arrive_decoded_like_httpx() -> None:
    """A department behind a proxy that gzips and streams: the direct path hands over the same decoded bytes."""
    import gzip

    from aiohttp import web
    from aiohttp.test_utils import TestServer

    payload = {"code": 0, "msg": "ok", "data": {"records": [{"facility_code": str(i) * 16} for i in range(300)]}}

    async def gzipped(request: web.Request) -> web.Response:
        body = gzip.compress(orjson.dumps(payload))
        return web.Response(body=body, headers={"content-encoding": "gzip", "content-type": "application/json"})

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        data = orjson.dumps(payload)
        for start in range(0, len(data), 1000):
            await response.write(data[start:start + 1000])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/gzip", gzipped)
    app.router.add_get("/chunked", chunked)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    direct_client, httpx_client = make_client(base), make_client(base, transport="httpx")
    try:
        for path in ("/gzip", "/chunked"):
            direct = await send(direct_client, "water", "GET", path)
            plain = await send(httpx_client, "water", "GET", path)
            assert orjson.loads(direct.content) == orjson.loads(plain.content) == payload
            assert "content-encoding" not in direct.headers
    finally:
        await direct_client.aclose()
        await httpx_client.aclose()
        await server.close()


@pytest.mark.parametrize("params", [
    {"district_codes": "370811,370812", "page": 1, "size": 1000},
    {"q": "济宁 任城区", "flag": True, "off": False, "empty": None, "ratio": 0.5},
    {"ids": ["a b", "c&d", "e=f"], "tuple": ("1", 2), "none": []},
    {"already": "%20encoded+plus", "slash/key": "x/y?z#w", 3: "numeric key"},
])
def test_the_query_string_is_the_one_httpx_sends(params: dict[Any, Any]) -> None:
    from connectors.direct import query_string

    expected = str(httpx.QueryParams(params))
    assert query_string(params) == expected
    assert query_string(params) == expected  # again, from the remembered quotes
