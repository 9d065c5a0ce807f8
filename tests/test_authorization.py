"""Per-tier authorization, driven over HTTP with real signed tokens: each tier sees exactly its share, scope
escapes fail closed, personal data follows the policy."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

import mocks.citymgmt as citymgmt_mock
from connectors.citymgmt import CityManagementConnector
from connectors.client import DepartmentClient
from connectors.records import ComponentQuery, ComponentRecord, SearchPage
from connectors.water import WaterConnector
from gateway.app import create_app
from gateway.departments import build_connectors
from gateway.router import ConnectorSet
from mocks.city import DEPARTMENT_OF_CLASS, Inventory
from mocks.citymgmt_data import generate_cases
from tests.conftest import MockDepartments, bearer, gateway_settings, graphql

DISTRICT = ("DISTRICT", "370811", "inspector")
OTHER_DISTRICT = ("DISTRICT", "370812", "dispatcher")
MUNICIPAL_DISPATCHER = ("MUNICIPAL", "370800", "dispatcher")
MUNICIPAL_VIEWER = ("MUNICIPAL", "370800", "viewer")
PROVINCIAL = ("PROVINCIAL", "370000", "viewer")
OTHER_PROVINCE = ("PROVINCIAL", "320000", "viewer")
NATIONAL = ("NATIONAL", "000000", "viewer")


async def as_(app: Any, who: tuple[str, ...] | None, query: str, variables: dict[str, Any] | None = None,
              ) -> dict[str, Any]:
    headers = bearer(*who) if who else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                 headers=headers, timeout=30) as client:
        return await graphql(client, query, variables)


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


COUNT_QUERY = "query($r: String) { components(filter: {regionCode: $r}, first: 0) { totalCount } }"


@pytest.mark.parametrize(("who", "expected_regions"), [
    (NATIONAL, ("370811", "370812")),
    (PROVINCIAL, ("370811", "370812")),
    (MUNICIPAL_VIEWER, ("370811", "370812")),
    (DISTRICT, ("370811",)),
    (OTHER_DISTRICT, ("370812",)),
    (OTHER_PROVINCE, ()),
])
async def test_each_tier_sees_exactly_its_regions(gateway_app: Any, inventory: Inventory, who: tuple[str, ...],
                                                  expected_regions: tuple[str, ...]) -> None:
    body = await as_(gateway_app, who, COUNT_QUERY)
    assert "errors" not in body, body
    expected = sum(1 for c in inventory.by_id.values() if c.region_code in expected_regions)
    assert body["data"]["components"]["totalCount"] == expected
    page = await as_(gateway_app, who, '{ components(first: 300, filter: {classCodes: ["0308", "0602"]}) '
                                       '{ nodes { id regionCode } } }')
    assert {n["regionCode"] for n in page["data"]["components"]["nodes"]} == set(expected_regions)


async def test_the_region_scope_is_pushed_down_to_every_department(
    gateway_app: Any, mock_departments: MockDepartments,
) -> None:
    before = mock_departments.totals()
    body = await as_(gateway_app, DISTRICT, "{ components(first: 5) { nodes { id } } events(first: 5) "
                                            "{ nodes { id } } alerts(first: 5) { nodes { id } } }")
    assert "errors" not in body, body
    region_parameter = {"water": "district_codes", "transport": "areaCodes", "environment": "regionCodes",
                        "housing": "district", "citymgmt": "sqbm"}
    for department, since in before.items():
        searches = [r for r in mock_departments.requests_since(department, since)
                    if region_parameter[department] in httpx.QueryParams(r["query"])]
        assert searches, department
        for request in searches:
            assert httpx.QueryParams(request["query"])[region_parameter[department]] == "370811", request


@pytest.mark.parametrize("query", [
    '{ components(filter: {regionCode: "370812"}) { totalCount } }',
    '{ components(filter: {regionCode: "3708"}) { totalCount } }',
    '{ components(filter: {gridCode: "370812001010001"}) { totalCount } }',
    '{ events(filter: {regionCode: "370812"}) { totalCount } }',
    '{ alerts(filter: {regionCode: "37"}) { totalCount } }',
    '{ component(id: "3708120113000042") { id } }',
    '{ c: component(id: "3708120113000042") { ... on Hydrant { pressureMpa } } }',
])
async def test_explicit_requests_outside_the_scope_are_forbidden_with_a_reason(gateway_app: Any, query: str) -> None:
    body = await as_(gateway_app, DISTRICT, query)
    assert codes(body) == ["FORBIDDEN"], body
    assert "outside your scope" in body["errors"][0]["message"]
    assert all(value is None for value in (body["data"] or {}).values())


async def test_aliases_are_checked_one_by_one(gateway_app: Any, inventory: Inventory) -> None:
    mine = inventory.buckets[("370811", "0113")][3].id
    theirs = inventory.buckets[("370812", "0113")][3].id
    body = await as_(gateway_app, DISTRICT, f'{{ a: component(id: "{mine}") {{ id }} '
                                            f'b: component(id: "{theirs}") {{ id }} }}')
    assert body["data"] == {"a": {"id": mine}, "b": None}
    assert codes(body) == ["FORBIDDEN"] and body["errors"][0]["path"] == ["b"]


async def test_near_and_bbox_across_the_border_return_only_the_own_district(gateway_app: Any) -> None:
    # A 12 km circle and a box that both cover parts of 任城区 (370811) and 兖州区 (370812).
    query = """query($near: NearInput, $bbox: BBoxInput) {
        n: components(filter: {near: $near, classCodes: ["0113"]}, first: 5000) { nodes { regionCode } }
        b: components(filter: {bbox: $bbox, classCodes: ["0113"]}, first: 5000) { nodes { regionCode } } }"""
    variables = {"near": {"lng": 116.69, "lat": 35.49, "radiusM": 12000},
                 "bbox": {"minLng": 116.6, "minLat": 35.4, "maxLng": 116.8, "maxLat": 35.6}}
    national = await as_(gateway_app, NATIONAL, query, variables)
    for key in ("n", "b"):
        assert {n["regionCode"] for n in national["data"][key]["nodes"]} == {"370811", "370812"}
    district = await as_(gateway_app, DISTRICT, query, variables)
    for key in ("n", "b"):
        regions = {n["regionCode"] for n in district["data"][key]["nodes"]}
        assert regions == {"370811"}, key


async def test_a_cursor_replayed_by_another_principal_is_refused(gateway_app: Any) -> None:
    query = "query($a: String) { components(first: 10, after: $a) { pageInfo { endCursor } nodes { id } } }"
    municipal = await as_(gateway_app, MUNICIPAL_VIEWER, query)
    cursor = municipal["data"]["components"]["pageInfo"]["endCursor"]
    replay = await as_(gateway_app, DISTRICT, query, {"a": cursor})
    assert codes(replay) == ["BAD_USER_INPUT"]
    same_scope = await as_(gateway_app, ("MUNICIPAL", "370800", "dispatcher"), query, {"a": cursor})
    assert "errors" not in same_scope


CASES_QUERY = """{ events(first: 200, filter: {source: [PUBLIC_REPORT, HOTLINE_12345]}) {
    nodes { id reporterName reporterPhone } } }"""


@pytest.mark.parametrize(("who", "visibility"), [
    (MUNICIPAL_DISPATCHER, "full"),
    (DISTRICT, "full"),
    (MUNICIPAL_VIEWER, "masked"),
    (("DISTRICT", "370811", "department_operator"), "masked"),
    (PROVINCIAL, "hidden"),
    (NATIONAL, "hidden"),
])
async def test_personal_data_follows_the_policy(gateway_app: Any, inventory: Inventory, who: tuple[str, ...],
                                                visibility: str) -> None:
    truth = {case.id: case for case in generate_cases(inventory)}
    body = await as_(gateway_app, who, CASES_QUERY)
    nodes = body["data"]["events"]["nodes"]
    assert nodes and "errors" not in body
    for node in nodes:
        case = truth[node["id"]]
        assert case.reporter_phone and case.reporter_name
        if visibility == "full":
            assert (node["reporterName"], node["reporterPhone"]) == (case.reporter_name, case.reporter_phone)
        elif visibility == "masked":
            phone = case.reporter_phone
            assert node["reporterPhone"] == f"{phone[:3]}****{phone[-4:]}"
            assert node["reporterName"] == case.reporter_name[0] + "*" * (len(case.reporter_name) - 1)
        else:
            assert node["reporterName"] is None and node["reporterPhone"] is None


async def test_the_policy_shows_in_the_printed_sdl() -> None:
    from gateway.app import make_schema
    from gateway.auth.policy import load_policy
    from gateway.settings import Settings

    sdl = str(make_schema(Settings(), load_policy()))
    assert 'reporterPhone: String @personalData(visibleTo: ["MUNICIPAL|DISTRICT (dispatcher|inspector)"]' in sdl
    assert "events(filter: EventFilter = null" in sdl and "@regionScoped @signInRequired" in sdl


# --- joins and a department that ignores the filter --------------------------------------------------------------


@pytest.fixture
async def crossing_app(mock_departments: MockDepartments, inventory: Inventory,
                       monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Any, str, str]]:
    """A gateway whose case system has one 370811 case about a 370812 component, and whose water connector drops
    the region filter (as a department that ignores it would)."""
    cases = generate_cases(inventory)
    index, case = next((i, c) for i, c in enumerate(cases) if c.region_code == "370811" and c.component_id)
    foreign = inventory.buckets[("370812", case.component_id[6:10])][0].id  # type: ignore[index]
    cases[index] = dataclasses.replace(case, component_id=foreign)
    monkeypatch.setattr(citymgmt_mock, "generate_cases", lambda _inventory: cases)
    case_system = citymgmt_mock.create_app(inventory)
    settings = gateway_settings(mock_departments)
    real = build_connectors(settings)

    class FilterIgnoringWater(WaterConnector):
        async def search_components(self, query: ComponentQuery, after: str | None, first: int,
                                    ) -> SearchPage[ComponentRecord]:
            return await super().search_components(dataclasses.replace(query, region_codes=None), after, first)

    water = real.get("water")
    assert water is not None
    connectors: Sequence[Any] = [
        *(c for c in real if c.department_id not in ("citymgmt", "water")),
        FilterIgnoringWater(water.client, regions=water.regions, timeout_s=water.timeout_s),
        CityManagementConnector(DepartmentClient("http://citymgmt", transport=httpx.ASGITransport(app=case_system)),
                                regions=("370811", "370812")),
    ]
    app = create_app(settings, connectors=ConnectorSet(connectors))
    yield app, case.id, foreign
    await app.state.connector_source.aclose()


async def test_a_join_never_reaches_outside_the_scope(crossing_app: tuple[Any, str, str]) -> None:
    app, case_id, foreign = crossing_app
    query = 'query($id: ID!) { event(id: $id) { id regionCode componentId component { id regionCode } } }'
    district = await as_(app, DISTRICT, query, {"id": case_id})
    assert district["data"]["event"]["componentId"] == foreign
    assert district["data"]["event"]["component"] is None
    assert codes(district) == ["FORBIDDEN"] and district["errors"][0]["path"] == ["event", "component"]
    municipal = await as_(app, MUNICIPAL_VIEWER, query, {"id": case_id})
    assert municipal["data"]["event"]["component"]["id"] == foreign and "errors" not in municipal


async def test_rows_a_department_returns_outside_the_scope_are_removed_and_logged(
    crossing_app: tuple[Any, str, str], inventory: Inventory, caplog: pytest.LogCaptureFixture,
) -> None:
    app, _, _ = crossing_app
    caplog.set_level(logging.WARNING, logger="yiwang.policy")
    body = await as_(app, DISTRICT, '{ components(filter: {classCodes: ["0113"]}, first: 2000) '
                                    '{ totalCount nodes { id regionCode } } }')
    nodes = body["data"]["components"]["nodes"]
    expected = [c.id for c in inventory.buckets[("370811", "0113")]]
    assert [n["id"] for n in nodes] == expected
    assert any("outside the scope" in r.getMessage() and "water" in r.getMessage() for r in caplog.records)


# --- anonymous callers ---------------------------------------------------------------------------------------------


@pytest.fixture
async def public_app(mock_departments: MockDepartments) -> AsyncIterator[Any]:
    app = create_app(gateway_settings(mock_departments, anonymous="public"))
    yield app
    await app.state.connector_source.aclose()


async def test_anonymous_callers_see_only_public_data(public_app: Any) -> None:
    body = await as_(public_app, None, "{ viewer { tier } components(first: 3000) { totalCount nodes { id } } }")
    assert body["data"]["viewer"]["tier"] == "PUBLIC"
    classes = {n["id"][6:10] for n in body["data"]["components"]["nodes"]}
    assert classes and classes <= {"0308", "0203", "0201"}
    for query in ('{ events { totalCount } }', '{ alerts { totalCount } }',
                  '{ components(filter: {classCodes: ["0101"]}) { totalCount } }',
                  '{ component(id: "3708110101000001") { id } }'):
        assert codes(await as_(public_app, None, query)) == ["FORBIDDEN"], query


async def test_anonymous_callers_are_rejected_by_default(gateway_app: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway_app), base_url="http://gateway") as c:
        response = await c.post("/graphql", json={"query": "{ viewer { tier } }"})
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert response.headers["www-authenticate"].startswith("Bearer")
        bad = await c.post("/graphql", json={"query": "{ viewer { tier } }"},
                           headers={"authorization": "Bearer not.a.token"})
        assert bad.status_code == 401


async def test_introspection_only_for_platform_admins_in_production(gateway_app: Any) -> None:
    query = '{ __type(name: "Hydrant") { name fields { name } } }'
    viewer = await as_(gateway_app, MUNICIPAL_VIEWER, query)
    assert viewer == {"data": {"__type": None}}  # as if there were no such type: the schema stays hidden
    schema = await as_(gateway_app, MUNICIPAL_VIEWER, "{ __schema { types { name } } }")
    assert codes(schema) == ["GRAPHQL_VALIDATION_FAILED"] and "data" not in schema
    admin = await as_(gateway_app, ("NATIONAL", "000000", "platform_admin"), query)
    assert admin["data"]["__type"]["name"] == "Hydrant" and admin["data"]["__type"]["fields"]
    typo = await as_(gateway_app, MUNICIPAL_VIEWER, "{ component(id: \"3708110101000001\") { nmae } }")
    assert "Did you mean" not in typo["errors"][0]["message"]


async def test_a_department_scoped_principal_sees_only_its_departments(gateway_app: Any) -> None:
    who = ("MUNICIPAL", "370800", "department_operator")
    headers = bearer(*who, departments=["water"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway_app), base_url="http://gateway",
                                 headers=headers) as client:
        body = await graphql(client, '{ components(first: 50, filter: {classCodes: ["0113", "0203"]}) '
                                     '{ nodes { department } } }')
        assert {n["department"] for n in body["data"]["components"]["nodes"]} == {"water"}
        refused = await graphql(client, '{ component(id: "3708110203000001") { id } }')
        assert codes(refused) == ["FORBIDDEN"]
    assert DEPARTMENT_OF_CLASS["0203"] == "transport"


# --- statistics for the upper tiers ------------------------------------------------------------------------------

STATS_QUERY = """query($r: String, $from: DateTime!, $to: DateTime!) {
  stats(regionCode: $r, from: $from, to: $to) { ...Numbers children { ...Numbers children { ...Numbers
    children { ...Numbers } } } } }
fragment Numbers on RegionStatistics {
  regionCode casesTotal toHandle handled handledOnTime toClose closed closedOnTime reworked extended
  handlingRate closedOnTimeRate reworkRate averageHandlingHours
  casesByClass { kind code count } casesByStatus { status count } alertsByLevel { level count } }"""
WINDOW = {"from": "2026-09-15T00:00:00+08:00", "to": "2026-10-31T23:59:59+08:00"}


def assert_matches_truth(node: dict[str, Any]) -> None:
    from datetime import datetime

    from tests.test_citymgmt_stats import expected

    truth = expected(node["regionCode"], datetime.fromisoformat(WINDOW["from"]), datetime.fromisoformat(WINDOW["to"]))
    for key in ("cases_total", "to_handle", "handled", "handled_on_time", "to_close", "closed", "closed_on_time",
                "reworked", "extended"):
        camel = "".join(part if i == 0 else part.title() for i, part in enumerate(key.split("_")))
        assert node[camel] == truth[key], (node["regionCode"], key)
    assert truth["to_handle"] > 0 and truth["closed"] > 0
    assert node["handlingRate"] == pytest.approx(truth["handled"] / truth["to_handle"])
    assert node["closedOnTimeRate"] == pytest.approx(truth["closed_on_time"] / truth["to_close"])
    assert node["reworkRate"] == pytest.approx(truth["reworked"] / truth["to_close"])
    assert node["averageHandlingHours"] == pytest.approx(truth["hours"] / truth["closed"])
    # keyed by (kind, code): 0102 污水井盖 and 0102 暴露垃圾 are two entries, never one sum
    assert {(c["kind"], c["code"]): c["count"] for c in node["casesByClass"]} == truth["by_class"]
    assert len(node["casesByClass"]) == len(truth["by_class"])
    assert {c["status"]: c["count"] for c in node["casesByStatus"]} == truth["by_status"]
    assert {c["level"]: c["count"] for c in node["alertsByLevel"]} == truth["alerts_by_level"]


@pytest.mark.parametrize(("who", "region", "tree"), [
    (NATIONAL, None, ["000000", "370000", "370800", "370811", "370812"]),
    (PROVINCIAL, "370000", ["370000", "370800", "370811", "370812"]),
    (MUNICIPAL_VIEWER, None, ["370800", "370811", "370812"]),
    (MUNICIPAL_VIEWER, "370812", ["370812"]),
    (DISTRICT, None, ["370811"]),
])
async def test_stats_equal_an_independent_computation_per_region(gateway_app: Any, who: tuple[str, ...],
                                                                 region: str | None, tree: list[str]) -> None:
    body = await as_(gateway_app, who, STATS_QUERY, {"r": region, **WINDOW})
    assert "errors" not in body, body
    seen: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        seen.append(node["regionCode"])
        assert_matches_truth(node)
        for child in node.get("children") or []:
            walk(child)

    walk(body["data"]["stats"])
    assert seen == tree


async def test_stats_outside_the_scope_are_forbidden(gateway_app: Any, public_app: Any) -> None:
    district = await as_(gateway_app, DISTRICT, STATS_QUERY, {"r": "370800", **WINDOW})
    assert codes(district) == ["FORBIDDEN"]
    other_province = await as_(gateway_app, OTHER_PROVINCE, STATS_QUERY, {"r": "370000", **WINDOW})
    assert codes(other_province) == ["FORBIDDEN"]
    anonymous = await as_(public_app, None, STATS_QUERY, {"r": None, **WINDOW})
    assert codes(anonymous) == ["FORBIDDEN"]


async def test_a_role_check_on_a_mutation_is_one_line() -> None:
    import strawberry

    from gateway.auth.policy import Access, load_policy
    from gateway.auth.principal import Principal, Tier
    from gateway.context import RequestContext
    from gateway.pagination import CursorCodec
    from schema.permissions import RequireRole

    @strawberry.type
    class Query:
        ping: str = "pong"

    @strawberry.type
    class Mutation:
        @strawberry.mutation(permission_classes=[RequireRole("dispatcher")])
        def dispatch_case(self, case_id: str) -> str:
            return f"dispatched {case_id}"

    schema = strawberry.Schema(query=Query, mutation=Mutation)

    async def run(*roles: str) -> Any:
        principal = Principal(subject="t", tier=Tier.MUNICIPAL, region_code="370800", roles=frozenset(roles))
        context = RequestContext(ConnectorSet([]), CursorCodec(b"k" * 32), access=Access(principal, load_policy()))
        return await schema.execute('mutation { dispatchCase(caseId: "2026110100001") }', context_value=context)

    allowed = await run("dispatcher")
    assert allowed.data == {"dispatchCase": "dispatched 2026110100001"}
    refused = await run("viewer")
    assert refused.data is None
    assert refused.errors[0].extensions == {"code": "FORBIDDEN", "requiredRoles": ["dispatcher"]}
