"""The response cache never hands one caller's identity to another: fields whose value depends on who the caller is
carry ``@cacheControl(scope: PRIVATE)`` and the cached answer of an operation selecting one is filed under the
caller's identity; every other field must give two callers of the same scope the same answer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
    get_named_type,
    is_leaf_type,
)
from starlette.applications import Starlette

from gateway.app import create_app, make_schema
from gateway.auth.demo import mint_token
from gateway.auth.policy import load_policy
from gateway.settings import Settings
from schema.directives import is_private
from tests.conftest import MockDepartments, gateway_settings

R1 = "query R1 { viewer { subject } components(first: 1) { totalCount } }"
SELECTION_DEPTH = 3
# Arguments for root fields that require some.
REQUIRED_ARGUMENTS = {"stats": '(from: "2026-10-01T00:00:00Z", to: "2026-11-01T00:00:00Z")'}


def _headers(subject: str, tier: str = "DISTRICT", region: str = "370811", *roles: str) -> dict[str, str]:
    token = mint_token(tier, region, roles or ("viewer",), subject=subject)
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def cached_gateway(mock_departments: MockDepartments) -> AsyncIterator[Starlette]:
    app = create_app(gateway_settings(mock_departments, cache_enabled=True, cache_responses=True))
    async with app.router.lifespan_context(app):
        yield app
    mock_departments.reset()


async def _post(app: Starlette, query: str, headers: dict[str, str]) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        response = await client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


def _cache_hits(app: Starlette) -> float:
    counter = app.state.metrics.metrics["yiwang_cache_responses_total"]
    return float(counter.value("hit"))


@pytest.mark.parametrize("query", [
    R1,
    "query R2 { me: viewer { who: subject tier } components(first: 1) { totalCount } }",
    "query R3 { ...Me components(first: 1) { totalCount } } fragment Me on Query { viewer { subject } }",
    "query R4 { ... on Query { viewer { ... on Viewer { subject } } } components(first: 1) { totalCount } }",
])
async def test_two_callers_of_one_scope_each_get_their_own_identity(cached_gateway: Starlette, query: str) -> None:
    alice = await _post(cached_gateway, query, _headers("alice"))
    bob = await _post(cached_gateway, query, _headers("bob"))
    assert "alice" in str(alice["data"]) and "bob" not in str(alice["data"])
    assert "bob" in str(bob["data"]) and "alice" not in str(bob["data"])
    again = await _post(cached_gateway, query, _headers("alice"))
    assert again["data"] == alice["data"]


async def test_operations_without_private_fields_are_still_shared(cached_gateway: Starlette) -> None:
    query = "query Shared { viewer { tier regionCode } components(first: 1) { totalCount } }"
    before = _cache_hits(cached_gateway)
    alice = await _post(cached_gateway, query, _headers("alice"))
    bob = await _post(cached_gateway, query, _headers("bob"))
    assert alice["data"] == bob["data"]
    assert _cache_hits(cached_gateway) == before + 1  # bob was answered from alice's entry


def test_the_printed_sdl_shows_which_fields_are_private() -> None:
    sdl = make_schema(Settings(), load_policy(None)).as_str()
    assert "subject: String! @cacheControl(scope: PRIVATE)" in sdl


# --- the class: no unmarked field may differ between two callers of the same view -------------------------------
def _selection(field_type: Any, schema: GraphQLSchema, depth: int) -> str | None:
    named = get_named_type(field_type)
    if is_leaf_type(named):
        return ""
    if depth == 0:
        return None
    if isinstance(named, GraphQLUnionType):
        parts = [f"... on {member.name} {sub}" for member in named.types
                 if (sub := _selection(member, schema, depth)) is not None]
        return "{ __typename " + " ".join(parts) + " }"
    assert isinstance(named, (GraphQLObjectType, GraphQLInterfaceType))
    parts = []
    for name, field in named.fields.items():
        if any(isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined for arg in field.args.values()):
            continue
        sub = _selection(field.type, schema, depth - 1)
        if sub is not None:
            parts.append(f"{name} {sub}".strip())
    if isinstance(named, GraphQLInterfaceType):
        parts.append("__typename")
    return "{ " + " ".join(parts) + " }" if parts else None


def _everything_queries(schema: GraphQLSchema) -> Iterator[tuple[str, str]]:
    query_type = schema.query_type
    assert query_type is not None
    for name, field in query_type.fields.items():
        required = [arg for arg in field.args.values()
                    if isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined]
        if required and name not in REQUIRED_ARGUMENTS:
            continue
        selection = _selection(field.type, schema, SELECTION_DEPTH)
        if selection is None:
            continue
        yield name, f"{{ {name}{REQUIRED_ARGUMENTS.get(name, '')}{'(first: 3)' if _is_connection(field) else ''} " \
                    f"{selection} }}"


def _is_connection(field: GraphQLField) -> bool:
    return "first" in field.args and "filter" in field.args


def _differences(a: Any, b: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a.keys() | b.keys():
            yield from _differences(a.get(key), b.get(key), (*path, key))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for x, y in zip(a, b, strict=True):
            yield from _differences(x, y, path)
    elif a != b:
        yield path


def _private_paths(schema: GraphQLSchema) -> set[tuple[str, ...]]:
    """Response paths (field names from the root) that are, or lie under, a PRIVATE field."""
    found: set[tuple[str, ...]] = set()

    def walk(type_: Any, path: tuple[str, ...], depth: int) -> None:
        named = get_named_type(type_)
        if depth == 0 or not isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
            return
        for name, field in named.fields.items():
            definition = field.extensions.get("strawberry-definition")
            if definition is not None and is_private(definition):
                found.add((*path, name))
            walk(field.type, (*path, name), depth - 1)

    walk(schema.query_type, (), SELECTION_DEPTH + 1)
    return found


async def test_no_unmarked_field_depends_on_who_the_caller_is(mock_departments: MockDepartments) -> None:
    app = create_app(gateway_settings(mock_departments, cache_enabled=False))
    schema = make_schema(Settings(), load_policy(None))._schema
    private = _private_paths(schema)
    roles = ("DISTRICT", "370811", "dispatcher")
    checked = 0
    async with app.router.lifespan_context(app):
        for name, query in _everything_queries(schema):
            answers = []
            for subject in ("alice", "bob"):
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as client:
                    response = await client.post("/graphql", json={"query": query}, headers=_headers(subject, *roles))
                body = response.json()
                assert body.get("data") is not None, (name, body)
                answers.append(body["data"])
            for path in _differences(*answers):
                if any(path[:len(p)] == p for p in private):
                    continue
                if path[-1] in ("overdue", "ageMinutes") or "readingAt" in path:  # time moves between the two calls
                    continue
                pytest.fail(f"{'.'.join(path)} differs between two callers of the same scope but is not marked "
                            f"@cacheControl(scope: PRIVATE) (checked at {datetime.now(UTC):%H:%M:%S})")
            checked += 1
    assert checked >= 8  # every root field was asked
    assert ("viewer", "subject") in private
