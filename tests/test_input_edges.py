"""Every argument of every root field is checked at the edge, over HTTP: an id that names a region outside the
caller's scope is FORBIDDEN (never an empty list), a value the schema's types accept but the domain does not is
BAD_USER_INPUT naming the argument; neither reaches a department."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import jwt
import pytest

from gateway.auth.demo import DEMO_ALGORITHM, DEMO_KEY_ID, _signing_key, mint_token
from mocks.city import Inventory
from tests.conftest import MockDepartments, bearer, graphql

DISTRICT_VIEWER = ("DISTRICT", "370811", "viewer")
MUNICIPAL_VIEWER = ("MUNICIPAL", "370800", "viewer")
NATIONAL_VIEWER = ("NATIONAL", "000000", "viewer")
WINDOW = {"f": "2026-09-15T00:00:00+08:00", "t": "2026-10-31T23:59:59+08:00"}
STATS = "query($f: DateTime!, $t: DateTime!, $r: String) { stats(from: $f, to: $t, regionCode: $r) " \
        "{ regionCode casesTotal children { regionCode } } }"


async def as_(app: Any, who: tuple[str, ...], query: str, variables: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                 headers=bearer(*who), timeout=30) as client:
        return await graphql(client, query, variables)


@contextmanager
def no_department_asked(mocks: MockDepartments) -> Iterator[None]:
    before = mocks.totals()
    yield
    assert mocks.totals() == before


def refusal(body: dict[str, Any]) -> tuple[str, str | None]:
    """(code, argument) of the only error, after checking that the field answered null."""
    assert all(value is None for value in (body.get("data") or {}).values()), body
    [error] = body["errors"]
    assert "Traceback" not in error["message"]
    return error["extensions"]["code"], error["extensions"].get("argument")


def other_district_component(inventory: Inventory) -> str:
    return inventory.buckets[("370812", "0113")][3].id


# --- ids outside the scope ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("query", [
    '{ events(filter: {componentId: "%s"}) { totalCount } }',
    '{ alerts(filter: {componentId: "%s"}) { totalCount } }',
    '{ events(filter: {regionCode: "370811", componentId: "%s"}) { totalCount } }',
    '{ alerts(filter: {regionCode: "370811", componentId: "%s"}) { nodes { id } } }',
])
async def test_a_component_id_outside_the_scope_is_forbidden_before_any_department_is_asked(
    gateway_app: Any, mock_departments: MockDepartments, inventory: Inventory, query: str,
) -> None:
    with no_department_asked(mock_departments):
        body = await as_(gateway_app, DISTRICT_VIEWER, query % other_district_component(inventory))
    assert refusal(body) == ("FORBIDDEN", "componentId")
    assert "outside your scope" in body["errors"][0]["message"]
    municipal = await as_(gateway_app, MUNICIPAL_VIEWER, query % other_district_component(inventory))
    assert "errors" not in municipal or refusal(municipal) == ("BAD_USER_INPUT", "componentId"), municipal


@pytest.mark.parametrize(("query", "argument"), [
    ('{ events(filter: {regionCode: "370811", gridCode: "370812001010001"}) { totalCount } }', "gridCode"),
    ('{ events(filter: {regionCode: "370811", componentId: "%s"}) { totalCount } }', "componentId"),
    ('{ alerts(filter: {regionCode: "370811", componentId: "%s"}) { totalCount } }', "componentId"),
    ('{ events(filter: {gridCode: "370811001010001", componentId: "%s"}) { totalCount } }', "componentId"),
])
async def test_region_arguments_that_contradict_each_other_are_bad_user_input(
    gateway_app: Any, mock_departments: MockDepartments, inventory: Inventory, query: str, argument: str,
) -> None:
    if "%s" in query:
        query %= other_district_component(inventory)
    with no_department_asked(mock_departments):
        body = await as_(gateway_app, MUNICIPAL_VIEWER, query)
    assert refusal(body) == ("BAD_USER_INPUT", argument)


async def test_an_empty_component_id_is_refused_not_ignored(gateway_app: Any,
                                                            mock_departments: MockDepartments) -> None:
    for field in ("events", "alerts"):
        query = f'{{ {field}(filter: {{componentId: ""}}) {{ totalCount }} }}'
        with no_department_asked(mock_departments):
            body = await as_(gateway_app, DISTRICT_VIEWER, query)
        assert refusal(body) == ("BAD_USER_INPUT", "componentId")


# --- digits are 0-9 -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("who", "query", "argument"), [
    (NATIONAL_VIEWER, '{ components(filter: {regionCode: "３７０８１２"}) { totalCount } }', "regionCode"),
    (DISTRICT_VIEWER, '{ components(filter: {regionCode: "３７０８１１"}) { totalCount } }', "regionCode"),
    (NATIONAL_VIEWER, '{ events(filter: {regionCode: "٣٧"}) { totalCount } }', "regionCode"),
    (DISTRICT_VIEWER, '{ alerts(filter: {regionCode: "３７０８１１"}) { totalCount } }', "regionCode"),
    (DISTRICT_VIEWER, '{ events(filter: {gridCode: "３７０８１１001010001"}) { totalCount } }', "gridCode"),
    (DISTRICT_VIEWER, '{ component(id: "３７０８１１0113000042") { id } }', "id"),
    (DISTRICT_VIEWER, '{ events(filter: {componentId: "３７０８１１0113000042"}) { totalCount } }', "componentId"),
])
async def test_codes_in_other_digits_are_bad_user_input(gateway_app: Any, mock_departments: MockDepartments,
                                                        who: tuple[str, ...], query: str, argument: str) -> None:
    with no_department_asked(mock_departments):
        body = await as_(gateway_app, who, query)
    assert refusal(body) == ("BAD_USER_INPUT", argument)


async def test_stats_of_a_region_in_full_width_digits_are_bad_user_input(
    gateway_app: Any, mock_departments: MockDepartments,
) -> None:
    with no_department_asked(mock_departments):
        body = await as_(gateway_app, NATIONAL_VIEWER, STATS, {**WINDOW, "r": "３７０８１２"})
    assert refusal(body) == ("BAD_USER_INPUT", "regionCode")


async def test_a_token_region_in_full_width_digits_is_unauthenticated(gateway_app: Any) -> None:
    claims = jwt.decode(mint_token("DISTRICT", "370811", ["viewer"]), options={"verify_signature": False})
    token = jwt.encode({**claims, "regionCode": "３７０８１１"}, _signing_key(), algorithm=DEMO_ALGORITHM,
                       headers={"kid": DEMO_KEY_ID})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway_app), base_url="http://gateway",
                                 headers={"authorization": f"Bearer {token}"}) as client:
        response = await client.post("/graphql", json={"query": "{ viewer { regionCode } }"})
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- region codes that name no division -----------------------------------------------------------------------------
@pytest.mark.parametrize("region", ["990000", "99", "3700", "370011", "00", "0000"])
async def test_region_codes_that_name_no_division_are_bad_user_input(
    gateway: httpx.AsyncClient, mock_departments: MockDepartments, region: str,
) -> None:
    with no_department_asked(mock_departments):
        body = await graphql(gateway, "query($r: String) { components(filter: {regionCode: $r}) { totalCount } }",
                             {"r": region})
    assert refusal(body) == ("BAD_USER_INPUT", "regionCode")


@pytest.mark.parametrize(("query", "argument"), [
    ('{ component(id: "3700000113000042") { id } }', "id"),
    ('{ component(id: "0000000113000042") { id } }', "id"),
    ('{ components(filter: {gridCode: "990100001010001"}) { totalCount } }', "gridCode"),
    ('{ events(filter: {gridCode: "370000001010001"}) { totalCount } }', "gridCode"),
])
async def test_ids_whose_region_is_no_county_are_bad_user_input(
    gateway: httpx.AsyncClient, mock_departments: MockDepartments, query: str, argument: str,
) -> None:
    with no_department_asked(mock_departments):
        body = await graphql(gateway, query)
    assert refusal(body) == ("BAD_USER_INPUT", argument)


async def test_000000_is_the_whole_country(gateway: httpx.AsyncClient, inventory: Inventory) -> None:
    body = await graphql(gateway, '{ components(filter: {regionCode: "000000"}, first: 0) { totalCount } }')
    assert body["data"]["components"]["totalCount"] == len(inventory.by_id)
    stats = await graphql(gateway, STATS, {**WINDOW, "r": "000000"})
    assert "errors" not in stats, stats
    assert stats["data"]["stats"]["regionCode"] == "000000"
    assert [c["regionCode"] for c in stats["data"]["stats"]["children"]] == ["370000"]
    assert stats["data"]["stats"]["casesTotal"] > 0


async def test_000000_is_outside_a_district_scope(gateway_app: Any, mock_departments: MockDepartments) -> None:
    with no_department_asked(mock_departments):
        body = await as_(gateway_app, DISTRICT_VIEWER, STATS, {**WINDOW, "r": "000000"})
    assert refusal(body) == ("FORBIDDEN", "regionCode")
    assert "000000 lies outside your scope" in body["errors"][0]["message"]


# --- times --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "end", "argument"), [
    ("0004-01-01T00:00:00+08:00", "0321-01-01T00:00:00+08:00", "from"),
    ("2026-10-01T00:00:00+08:00", "9999-12-31T23:59:59-12:00", "to"),
    ("2026-10-01T00:00:00+08:00", "2062-10-01T00:00:00+08:00", "to"),
    ("2026-10-01T00:00:00+08:00", "2026-10-31T00:00:00", "to"),
])
async def test_stats_windows_outside_the_accepted_range_never_reach_the_department(
    gateway: httpx.AsyncClient, mock_departments: MockDepartments, start: str, end: str, argument: str,
) -> None:
    with no_department_asked(mock_departments):
        body = await graphql(gateway, STATS, {"f": start, "t": end})
    assert refusal(body) == ("BAD_USER_INPUT", argument)


async def test_the_accepted_range_begins_with_2004(gateway: httpx.AsyncClient,
                                                   mock_departments: MockDepartments) -> None:
    with no_department_asked(mock_departments):
        before = await graphql(gateway, STATS, {"f": "2003-12-31T23:59:59+08:00", "t": "2026-10-31T00:00:00+08:00"})
    assert refusal(before) == ("BAD_USER_INPUT", "from")
    body = await graphql(gateway, STATS, {"f": "2004-01-01T00:00:00+08:00", "t": "2026-10-31T23:59:59+08:00"})
    assert "errors" not in body, body
    assert body["data"]["stats"]["casesTotal"] > 0


@pytest.mark.parametrize(("filter_", "argument"), [
    ('events(filter: {reportedFrom: "0001-01-01T00:00:00+08:00"})', "reportedFrom"),
    ('events(filter: {reportedTo: "9999-12-31T23:59:59-12:00"})', "reportedTo"),
    ('events(filter: {reportedTo: "2026-10-01T00:00:00"})', "reportedTo"),
    ('events(filter: {reportedFrom: "2026-10-02T00:00:00Z", reportedTo: "2026-10-01T00:00:00Z"})', "reportedFrom"),
    ('alerts(filter: {raisedFrom: "0321-01-01T00:00:00+08:00"})', "raisedFrom"),
    ('alerts(filter: {raisedTo: "2999-01-01T00:00:00+08:00"})', "raisedTo"),
])
async def test_filter_times_outside_the_accepted_range_never_reach_the_department(
    gateway: httpx.AsyncClient, mock_departments: MockDepartments, filter_: str, argument: str,
) -> None:
    with no_department_asked(mock_departments):
        body = await graphql(gateway, f"{{ {filter_} {{ totalCount }} }}")
    assert refusal(body) == ("BAD_USER_INPUT", argument)


# --- lists, identifiers, cursors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("query", "variables", "argument"), [
    ("query($c: [String!]) { components(filter: {classCodes: $c}) { totalCount } }", {"c": ["0113"] * 100_000},
     "classCodes"),
    ("query($c: [CaseClassInput!]) { events(filter: {classes: $c}) { totalCount } }",
     {"c": [{"kind": "EVENT", "code": "0102"}] * 501}, "classes"),
    ('{ components(filter: {classCodes: ["0113", "0113"]}) { totalCount } }', None, "classCodes"),
    ("{ components(filter: {status: [INTACT, INTACT]}) { totalCount } }", None, "status"),
    ("{ events(filter: {source: [HOTLINE_12345, HOTLINE_12345]}) { totalCount } }", None, "source"),
    ("{ alerts(filter: {level: [RED, RED]}) { totalCount } }", None, "level"),
    ('{ components(filter: {departments: ["water", "water"]}) { totalCount } }', None, "departments"),
    ('{ components(filter: {departments: ["nope"]}) { totalCount } }', None, "departments"),
    ('{ components(filter: {departments: ["Water"]}) { totalCount } }', None, "departments"),
    ('{ components(filter: {departments: [""]}) { totalCount } }', None, "departments"),
    ('{ alerts(filter: {metric: ["PM10"]}) { totalCount } }', None, "metric"),
    ('{ alerts(filter: {metric: ["pressure\\u0000"]}) { totalCount } }', None, "metric"),
    ("query($m: [String!]) { alerts(filter: {metric: $m}) { totalCount } }", {"m": ["x" * 100_000]}, "metric"),
    ('{ components(after: "e30.\\u00e9\\u00e9") { totalCount } }', None, "after"),
])
async def test_list_filters_identifiers_and_cursors_are_checked_at_the_edge(
    gateway: httpx.AsyncClient, mock_departments: MockDepartments, query: str, variables: dict[str, Any] | None,
    argument: str,
) -> None:
    with no_department_asked(mock_departments):
        body = await graphql(gateway, query, variables)
    assert refusal(body) == ("BAD_USER_INPUT", argument)
    assert len(body["errors"][0]["message"]) < 500  # a refusal never echoes the whole value back


async def test_a_list_filter_is_a_set(gateway: httpx.AsyncClient, mock_departments: MockDepartments) -> None:
    query = ("query($c: [String!], $d: [String!]) { components(filter: {classCodes: $c, departments: $d, "
             "status: [INTACT, DAMAGED]}, first: 0) { totalCount } }")
    with no_department_asked(mock_departments):
        twice = await graphql(gateway, query, {"c": ["0113", "0308", "0113"], "d": ["water", "environment"]})
    assert refusal(twice) == ("BAD_USER_INPUT", "classCodes")
    assert "'0113' more than once" in twice["errors"][0]["message"]
    body = await graphql(gateway, query, {"c": ["0113", "0308"], "d": ["water", "environment"]})
    assert "errors" not in body, body
    assert body["data"]["components"]["totalCount"] > 0
    alerts = await graphql(gateway, '{ alerts(filter: {metric: ["pressure", "pm10"], level: [RED, ORANGE]}, '
                                    'first: 0) { totalCount } }')
    assert "errors" not in alerts, alerts
