"""Operation limits over HTTP: the estimated cost refused before any department is called (with a budget per role),
depth and aliases, every kind of invalid document answered with the normal validation error, and no "Did you mean"
in production."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bench.scenarios import SCENARIOS
from gateway.app import create_app, make_schema
from gateway.auth.policy import load_policy
from gateway.auth.principal import Role
from gateway.router import ConnectorSet
from gateway.settings import DEFAULT_MAX_COST, Settings
from tests.conftest import MockDepartments, bearer, gateway_settings

NATIONAL_ADMIN = ("NATIONAL", "000000", "platform_admin")
NATIONAL_VIEWER = ("NATIONAL", "000000", "viewer")
DISTRICT_VIEWER = ("DISTRICT", "370811", "viewer")
# The issue's query: 30 aliases of a 10,000-component page with a point each.
PAGE = "a%d: components(first: 10000%s) { nodes { id name location { lng lat } } }"
BIG_PAGES = "{ %s }" % " ".join(PAGE % (i, "") for i in range(30))  # noqa: UP031
BIG_PAGES_COST = 30 * (1 + 10_000 * 2)
# The same estimate, but few matches (the air-quality stations of one district), so that running it stays quick.
BIG_PAGES_FEW_MATCHES = "{ %s }" % " ".join(  # noqa: UP031
    PAGE % (i, ', filter: {regionCode: "370811", classCodes: ["0308"]}') for i in range(30))
README_QUERY = Path(__file__).resolve().parents[1].joinpath("README.md").read_text().split(
    "## A first query", 1)[1].split("```graphql", 1)[1].split("```", 1)[0]


async def _client(app: Starlette, *who: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = bearer(*who) if who else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=120,
                                 headers=headers) as client:
        yield client


async def _post(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
                **extra: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables, **extra})
    body: dict[str, Any] = response.json()
    return body


def _codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


@pytest.fixture
async def limited_app(mock_departments: MockDepartments) -> AsyncIterator[Starlette]:
    """Production settings wired to the mocks, platform admins with a budget of a million."""
    app = create_app(gateway_settings(mock_departments, cost_limits={Role.PLATFORM_ADMIN: 1_000_000}))
    yield app
    await app.state.connector_source.aclose()


# --- cost -------------------------------------------------------------------------------------------------------


async def test_thirty_big_pages_are_refused_before_any_department_is_called(
        mock_departments: MockDepartments) -> None:
    app = create_app(gateway_settings(mock_departments))
    try:
        async for admin in _client(app, *NATIONAL_ADMIN):
            before = mock_departments.totals()
            body = await _post(admin, BIG_PAGES)
            assert mock_departments.totals() == before
    finally:
        await app.state.connector_source.aclose()
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "COST_ESTIMATED_TOO_EXPENSIVE",
                                   "cost": {"estimated": BIG_PAGES_COST, "max": DEFAULT_MAX_COST}}
    assert str(BIG_PAGES_COST) in error["message"] and str(DEFAULT_MAX_COST) in error["message"]


async def test_a_role_with_a_larger_budget_runs_it(limited_app: Starlette, mock_departments: MockDepartments) -> None:
    async for viewer in _client(limited_app, *NATIONAL_VIEWER):
        before = mock_departments.totals()
        refused = await _post(viewer, BIG_PAGES_FEW_MATCHES)
        assert mock_departments.totals() == before
    assert _codes(refused) == ["COST_ESTIMATED_TOO_EXPENSIVE"]
    assert refused["errors"][0]["extensions"]["cost"] == {"estimated": BIG_PAGES_COST, "max": DEFAULT_MAX_COST}
    async for admin in _client(limited_app, *NATIONAL_ADMIN):
        body = await _post(admin, BIG_PAGES_FEW_MATCHES)
    assert "errors" not in body, body["errors"]
    assert len(body["data"]) == 30
    stations = body["data"]["a0"]["nodes"]
    assert stations and all(page["nodes"] == stations for page in body["data"].values())


async def test_sizes_given_by_variables_count(limited_app: Starlette) -> None:
    query = """query Pages($n: Int!, $m: Int = 10000) {
        a: components(first: $n) { edges { cursor node { id location { lng } } } }
        b: components(first: $m) { nodes { id componentClass { code } } } }"""
    async for viewer in _client(limited_app, *NATIONAL_VIEWER):
        refused = await _post(viewer, query, {"n": 10_000})
        assert _codes(refused) == ["COST_ESTIMATED_TOO_EXPENSIVE"]
        assert refused["errors"][0]["extensions"]["cost"]["estimated"] == (1 + 10_000 * 3) + (1 + 10_000 * 2)
        allowed = await _post(viewer, query, {"n": 3, "m": 2})
        assert "errors" not in allowed and len(allowed["data"]["b"]["nodes"]) == 2
        wrong_type = await _post(viewer, query, {"n": "10000"})  # not an Int: refused by variable coercion instead
        assert _codes(wrong_type) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_lists_inside_lists_multiply(limited_app: Starlette) -> None:
    nested = """{ components(first: 1000) { nodes { id events(first: 100) { id component { id } } } } }"""
    async for viewer in _client(limited_app, *NATIONAL_VIEWER):
        body = await _post(viewer, nested)
    assert body["errors"][0]["extensions"]["cost"]["estimated"] == 1 + 1000 * (1 + 100 * 2)


@pytest.mark.parametrize("who", [NATIONAL_VIEWER, DISTRICT_VIEWER], ids=["national", "district"])
async def test_the_readme_first_query_is_within_the_default_budget(gateway_app: Starlette, who: tuple[str, ...]
                                                                  ) -> None:
    async for client in _client(gateway_app, *who):
        body = await _post(client, README_QUERY)
    assert "COST_ESTIMATED_TOO_EXPENSIVE" not in _codes(body)
    assert body["data"]["components"]["edges"] and body["data"]["events"]["nodes"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.key for s in SCENARIOS])
async def test_the_benchmark_queries_are_within_the_default_budget(gateway_app: Starlette, scenario: Any) -> None:
    async for client in _client(gateway_app, *NATIONAL_VIEWER):
        body = await _post(client, scenario.yiwang_query)
    assert "errors" not in body, body.get("errors")


def test_the_printed_schema_shows_list_sizes() -> None:
    sdl = make_schema(Settings(), load_policy(None)).as_str()
    assert "directive @listSize(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!]" in sdl
    components = next(line for line in sdl.splitlines() if line.strip().startswith("components(filter:"))
    assert components.endswith('@listSize(slicingArguments: ["first"], sizedFields: ["edges", "nodes"], '
                               "requireOneSlicingArgument: false)")
    assert re.search(r"^\s+children: \[RegionStatistics!\]! @listSize\(assumedSize: 20\)$", sdl, re.MULTILINE)
    assert re.search(r"^\s+nodes: \[Component!\]!$", sdl, re.MULTILINE)  # sized by its connection's field


# --- depth, aliases, invalid documents ---------------------------------------------------------------------------

STATS = '{ stats(from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z") { %s } }'
INVALID = {
    "undefined fragment": ("{ ...Nope }", None, "GRAPHQL_VALIDATION_FAILED"),
    "undefined fragment deeper": ("{ departments { ...Nope } }", None, "GRAPHQL_VALIDATION_FAILED"),
    "fragment cycle": ("{ departments { ...A } } fragment A on Department { ...B } fragment B on Department { ...A }",
                       None, "GRAPHQL_VALIDATION_FAILED"),
    "fragment on itself": ("{ viewer { ...V } } fragment V on Viewer { tier ...V }", None,
                           "GRAPHQL_VALIDATION_FAILED"),
    "unknown field": ("{ departmnts { id } }", None, "GRAPHQL_VALIDATION_FAILED"),
    "unknown type": ("{ components { nodes { ... on Hydrnt { id } } } }", None, "GRAPHQL_VALIDATION_FAILED"),
    "fragment on a wrong type": ("{ departments { ...F } } fragment F on Hydrant { id }", None,
                                 "GRAPHQL_VALIDATION_FAILED"),
    "fragment on a scalar": ("{ viewer { ...F } } fragment F on String { x }", None, "GRAPHQL_VALIDATION_FAILED"),
    "unused fragment": ("{ viewer { tier } } fragment F on Viewer { tier }", None, "GRAPHQL_VALIDATION_FAILED"),
    "missing variable": ("query($n: Int!) { components(first: $n) { totalCount } }", {},
                         "GRAPHQL_VALIDATION_FAILED"),
    "variable of the wrong type": ("query($n: Int!) { components(first: $n) { totalCount } }", {"n": "ten"},
                                   "GRAPHQL_VALIDATION_FAILED"),
    "undeclared variable": ("{ components(first: $n) { totalCount } }", {"n": 1}, "GRAPHQL_VALIDATION_FAILED"),
    "multiple operations without operationName": ("query A { viewer { tier } } query B { viewer { tier } }", None,
                                                  "GRAPHQL_VALIDATION_FAILED"),
    "anonymous among named operations": ("{ viewer { tier } } query B { viewer { tier } }", None,
                                         "GRAPHQL_VALIDATION_FAILED"),
    "huge document": ("{ %s }" % " ".join(["viewer { tier }"] * 5000), None, "GRAPHQL_PARSE_FAILED"),  # noqa: UP031
    "too deep": (STATS % ("children { " * 13 + "regionCode" + " }" * 13), None, "GRAPHQL_VALIDATION_FAILED"),
    "too many aliases": ("{ %s }" % " ".join(f"a{i}: viewer {{ tier }}" for i in range(31)), None,  # noqa: UP031
                         "GRAPHQL_VALIDATION_FAILED"),
    "aliases multiplied by fragments": (
        "{ ...F0 } " + " ".join(f"fragment F{i} on Query {{ a{i}: viewer {{ tier }} ...F{i + 1} ...F{i + 1} }}"
                                for i in range(40)) + " fragment F40 on Query { viewer { tier } }",
        None, "GRAPHQL_VALIDATION_FAILED"),
    "deep introspection": ("{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
                           None, "GRAPHQL_VALIDATION_FAILED"),
    "introspection without being an admin": ("{ __schema { types { name } } }", None, "GRAPHQL_VALIDATION_FAILED"),
}


@pytest.fixture
async def production_app() -> AsyncIterator[Starlette]:
    """Production settings without departments: these requests must never get as far as calling one."""
    app = create_app(Settings(anonymous="public", trust_demo_issuer=True), connectors=ConnectorSet([]))
    yield app
    await app.state.connector_source.aclose()


@pytest.fixture
async def demo_app() -> AsyncIterator[Starlette]:
    app = create_app(Settings(mode="demo"), connectors=ConnectorSet([]))
    yield app
    await app.state.connector_source.aclose()


@pytest.mark.parametrize("name", INVALID)
async def test_invalid_documents_get_the_normal_errors(production_app: Starlette, name: str) -> None:
    query, variables, code = INVALID[name]
    async for viewer in _client(production_app, *NATIONAL_VIEWER):
        body = await _post(viewer, query, variables)
    assert body.get("data") is None
    assert body["errors"] and set(_codes(body)) == {code}, body["errors"]


async def test_limits_count_what_the_named_operation_asks(production_app: Starlette) -> None:
    aliases = " ".join(f"a{i}: viewer {{ tier }}" for i in range(31))
    document = f"query Small {{ viewer {{ tier }} }} query Big {{ {aliases} }}"
    async for viewer in _client(production_app, *NATIONAL_VIEWER):
        small = await _post(viewer, document, operationName="Small")
        big = await _post(viewer, document, operationName="Big")
    assert "errors" not in small and small["data"] == {"viewer": {"tier": "NATIONAL"}}
    assert big["errors"][0]["extensions"]["aliases"] == {"actual": 31, "max": 30}


async def test_introspection_is_cheap_and_allowed_for_admins(production_app: Starlette) -> None:
    from graphql import get_introspection_query

    async for admin in _client(production_app, *NATIONAL_ADMIN):
        body = await _post(admin, get_introspection_query())
    assert "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query"


# --- suggestions -------------------------------------------------------------------------------------------------

MISSPELT = {
    "argument": ("{ components(fist: 3) { totalCount } }", None),
    "field": ("{ departmnts { id } }", None),
    "enum value": ("{ components(filter: {status: [INTAC]}) { totalCount } }", None),
    "type in a fragment": ("{ components { nodes { ... on Hydrnt { id } } } }", None),
    "type of a fragment definition": ("{ components { nodes { ...H } } } fragment H on Hydrnt { id }", None),
    "input field": ('{ components(filter: {regionCod: "370811"}) { totalCount } }', None),
    "type of a variable": ("query($s: [ComponentStatu!]) { components(filter: {status: $s}) { totalCount } }",
                           {"s": ["INTACT"]}),
    "enum value in a variable": ("query($s: [EventStatus!]) { events(filter: {status: $s}) { totalCount } }",
                                 {"s": ["CLOSD"]}),
    "component status in a variable": (
        "query($s: [ComponentStatus!]) { components(filter: {status: $s}) { totalCount } }", {"s": ["INTAC"]}),
    "input field in a variable": ("query($f: ComponentFilter) { components(filter: $f) { totalCount } }",
                                  {"f": {"regionCod": "370811"}}),
    "enum value in a nested input variable": (
        "query($f: ComponentFilter) { components(filter: $f) { totalCount } }", {"f": {"status": ["INTAC"]}}),
    "field of an interface": ("{ components { nodes { nme } } }", None),
}


async def _suggestion_messages(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None,
                               ) -> list[str]:
    post = await _post(client, query, variables)
    get = (await client.get("/graphql", params={"query": query, **({"variables": _json(variables)} if variables
                                                                     else {})},
                            headers={"x-yiwang-csrf": "1"})).json()
    messages = [error["message"] for body in (post, get) for error in body["errors"]]
    assert messages and "INTERNAL_SERVER_ERROR" not in _codes(post) + _codes(get)
    return messages


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


@pytest.mark.parametrize("who", [(), NATIONAL_VIEWER, NATIONAL_ADMIN], ids=["anonymous", "viewer", "admin"])
@pytest.mark.parametrize("case", MISSPELT)
async def test_production_suggests_no_names(production_app: Starlette, case: str, who: tuple[str, ...]) -> None:
    query, variables = MISSPELT[case]
    async for client in _client(production_app, *who):
        messages = await _suggestion_messages(client, query, variables)
    assert not [m for m in messages if "did you mean" in m.lower()], messages


@pytest.mark.parametrize("case", MISSPELT)
async def test_the_demo_still_suggests(demo_app: Starlette, case: str) -> None:
    """Proves the production test would see a suggestion if there were one."""
    query, variables = MISSPELT[case]
    async for client in _client(demo_app):
        messages = await _suggestion_messages(client, query, variables)
    assert any("Did you mean" in m for m in messages), messages


# --- settings ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ['{"platform_admn": 1000000}', '{"viewer": 0}', '{"viewer": -5}', '{"viewer": 1.5}',
                                   '{"viewer": "1000"}', '{"viewer": true}', '["viewer"]', "viewer=1000", "{"])
def test_cost_limits_are_validated_strictly(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from gateway.exceptions import ConfigurationError
    from gateway.settings import load_settings

    monkeypatch.setenv("YIWANG_COST_LIMITS", value)
    with pytest.raises(ConfigurationError, match="cost_limits"):
        load_settings()


def test_cost_settings_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.settings import load_settings

    monkeypatch.setenv("YIWANG_COST_LIMITS", '{"platform_admin": 1000000, "viewer": 20000}')
    monkeypatch.setenv("YIWANG_MAX_COST", "30000")
    settings = load_settings()
    assert settings.max_cost == 30_000
    assert settings.cost_limits == {Role.PLATFORM_ADMIN: 1_000_000, Role.VIEWER: 20_000}
    monkeypatch.setenv("YIWANG_MAX_COST", "0")
    with pytest.raises(Exception, match="max_cost"):
        load_settings()


async def test_budget_is_the_largest_of_the_callers_roles(mock_departments: MockDepartments) -> None:
    """A dispatcher who is also a viewer gets the dispatcher's budget; a viewer the default."""
    app = create_app(gateway_settings(mock_departments, max_cost=100, cost_limits={Role.DISPATCHER: 1000}))
    query = "{ components(first: 300) { nodes { id } } }"  # costs 301
    try:
        results = {}
        for who in (("MUNICIPAL", "370800", "viewer"), ("MUNICIPAL", "370800", "viewer", "dispatcher")):
            async for client in _client(app, *who):
                results[who[2:]] = await _post(client, query)
    finally:
        await app.state.connector_source.aclose()
    assert results[("viewer",)]["errors"][0]["extensions"]["cost"] == {"estimated": 301, "max": 100}
    assert "errors" not in results[("viewer", "dispatcher")]
