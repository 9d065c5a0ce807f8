"""The HTTP edge: security limits on by default, JSON errors for everything that is not GraphQL, GraphiQL and
introspection only in demo mode."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import MAX_ALIASES, MAX_TOKENS, create_app
from gateway.router import ConnectorSet
from gateway.settings import Settings


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, connectors=ConnectorSet([]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client


@pytest.fixture
async def production() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(Settings(max_body_bytes=2048, anonymous="public")):
        yield client


@pytest.fixture
async def demo() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(Settings(mode="demo")):
        yield client


def _code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def test_body_over_the_limit_is_refused_with_413(production: httpx.AsyncClient) -> None:
    query = "{ departments { id } }" + " " * 4096
    response = await production.post("/graphql", json={"query": query})
    assert response.status_code == 413
    assert _code(response) == "PAYLOAD_TOO_LARGE"


async def test_streamed_body_over_the_limit_is_refused(production: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 512

    response = await production.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


async def test_simple_cross_site_requests_are_refused(production: httpx.AsyncClient) -> None:
    form = await production.post("/graphql", data={"query": "{ departments { id } }"})
    assert form.status_code == 400 and _code(form) == "CSRF_REJECTED"
    get = await production.get("/graphql", params={"query": "{ departments { id } }"})
    assert get.status_code == 400 and _code(get) == "CSRF_REJECTED"
    preflighted = await production.get("/graphql", params={"query": "{ departments { id } }"},
                                       headers={"x-yiwang-csrf": "1"})
    assert preflighted.status_code == 200 and preflighted.json()["data"] == {"departments": []}


async def test_non_graphql_failures_answer_json(production: httpx.AsyncClient) -> None:
    broken = await production.post("/graphql", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and _code(broken) == "BAD_REQUEST"
    missing = await production.get("/nowhere")
    assert missing.status_code == 404 and _code(missing) == "NOT_FOUND"
    syntax = await production.post("/graphql", json={"query": "{ departments { id "})
    assert _code(syntax) == "GRAPHQL_PARSE_FAILED"
    unknown = await production.post("/graphql", json={"query": "{ nope }"})
    assert _code(unknown) == "GRAPHQL_VALIDATION_FAILED"


async def test_production_hides_graphiql_and_introspection(production: httpx.AsyncClient) -> None:
    page = await production.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 404
    introspection = await production.post("/graphql", json={"query": "{ __schema { types { name } } }"})
    assert _code(introspection) == "GRAPHQL_VALIDATION_FAILED"


async def test_demo_serves_graphiql_and_introspection(demo: httpx.AsyncClient) -> None:
    page = await demo.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    introspection = await demo.post("/graphql", json={"query": '{ __type(name: "Hydrant") { interfaces { name } } }'})
    assert introspection.json()["data"]["__type"]["interfaces"] == [{"name": "Component"}]


async def test_depth_and_alias_limits(production: httpx.AsyncClient) -> None:
    aliases = " ".join(f"a{i}: departments {{ id }}" for i in range(40))
    response = await production.post("/graphql", json={"query": "{ %s }" % aliases})  # noqa: UP031
    assert response.json()["errors"][0]["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED",
                                                          "aliases": {"actual": 40, "max": 30}}
    stats = '{ stats(from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z") { %s } }'
    for levels in (11, 12):  # stats + 11 levels of children: 12 deep, allowed; one more is refused
        query = stats % ("children { " * levels + "regionCode" + " }" * levels)
        errors = (await production.post("/graphql", json={"query": query})).json()["errors"]
        depth_errors = [e["extensions"]["depth"] for e in errors if "depth" in e["extensions"]]
        assert depth_errors == ([{"actual": 13, "max": 12}] if levels == 12 else [])


async def test_aliases_are_allowed_up_to_the_limit_and_refused_one_past_it(production: httpx.AsyncClient) -> None:
    for count, refused in ((MAX_ALIASES, False), (MAX_ALIASES + 1, True)):
        aliases = " ".join(f"a{i}: departments {{ id }}" for i in range(count))
        body = (await production.post("/graphql", json={"query": "{ %s }" % aliases})).json()  # noqa: UP031
        if refused:
            assert body["errors"][0]["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED",
                                                       "aliases": {"actual": 31, "max": 30}}
        else:
            assert "errors" not in body and len(body["data"]) == 30


async def test_documents_are_parsed_up_to_the_token_limit_and_refused_one_past_it() -> None:
    # 19 tokens around the list ("{", "components", "(", "filter", ":", "{", …) and one per class code
    template = '{ components(filter: {classCodes: [%s]}, first: 1) { totalCount } }'
    async for client in _client(Settings(anonymous="public")):
        answers = {}
        for tokens in (MAX_TOKENS, MAX_TOKENS + 1):
            query = template % ", ".join(['"0113"'] * (tokens - 19))
            answers[tokens] = (await client.post("/graphql", json={"query": query})).json()["errors"]
    # at the limit the document is parsed, validated and run: the resolver refuses a list that long
    [executed] = answers[MAX_TOKENS]
    assert executed["extensions"] == {"code": "BAD_USER_INPUT", "argument": "classCodes"}
    assert executed["path"] == ["components"]
    [refused] = answers[MAX_TOKENS + 1]
    assert refused["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    assert refused["message"] == "Syntax Error: Document contains more than 10000 tokens. Parsing aborted."


async def test_health_endpoints(production: httpx.AsyncClient) -> None:
    assert (await production.get("/healthz")).json() == {"status": "ok"}


def test_unknown_settings_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.exceptions import ConfigurationError
    from gateway.settings import load_settings

    monkeypatch.setenv("YIWANG_UPSTREAM_TIMOUT_S", "3")
    with pytest.raises(ConfigurationError, match="YIWANG_UPSTREAM_TIMOUT_S"):
        load_settings()
    monkeypatch.delenv("YIWANG_UPSTREAM_TIMOUT_S")
    monkeypatch.setenv("YIWANG_UPSTREAM_TIMEOUT_S", "-1")
    with pytest.raises(ConfigurationError):
        load_settings()
