"""End to end: a front-end developer's queries over HTTP, through the gateway, into five real mock departments."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mocks.city import DEPARTMENT_OF_CLASS, DISTRICTS, Inventory
from schema.codes import is_component_id
from tests.conftest import MockDepartments, graphql

COMPONENT_FIELDS = "id department regionCode gridCode location { lng lat } componentClass { code majorCode }"


async def test_one_district_spans_four_departments_with_converted_locations(
    gateway: httpx.AsyncClient, inventory: Inventory,
) -> None:
    body = await graphql(gateway, f"""
        query($filter: ComponentFilter) {{
          components(filter: $filter, first: 5000) {{ totalCount nodes {{ {COMPONENT_FIELDS} }} }}
        }}""", {"filter": {"regionCode": "370811", "classCodes": ["0113", "0201", "0308", "0602"]}})
    assert "errors" not in body, body
    nodes = body["data"]["components"]["nodes"]
    district = DISTRICTS["370811"]
    assert {node["department"] for node in nodes} == {"water", "transport", "environment", "housing"}
    assert body["data"]["components"]["totalCount"] == len(nodes)
    for node in nodes:
        assert is_component_id(node["id"]) and node["id"].startswith("370811")
        assert node["regionCode"] == "370811" and node["gridCode"].startswith("370811")
        lng, lat = node["location"]["lng"], node["location"]["lat"]
        assert district.contains(lng, lat), node
        truth = inventory.get(node["id"])
        assert truth is not None
        # GCJ-02 / BD-09 are 100-600 m off; converted back they agree with the truth to ~1 cm.
        assert abs(truth.lng - lng) < 1e-6 and abs(truth.lat - lat) < 1e-6, (node, truth)
        assert node["department"] == DEPARTMENT_OF_CLASS[node["componentClass"]["code"]]


async def test_join_of_100_cases_makes_one_batched_call_per_department(
    gateway: httpx.AsyncClient, mock_departments: MockDepartments, inventory: Inventory,
) -> None:
    before = mock_departments.totals()
    body = await graphql(gateway, """
        { events(first: 100) { nodes { id componentId component { id department } } } }""")
    assert "errors" not in body, body
    nodes = body["data"]["events"]["nodes"]
    assert len(nodes) == 100
    joined = [n for n in nodes if n["componentId"]]
    assert joined, "expected component cases among the first 100"
    for node in joined:
        assert node["component"]["id"] == node["componentId"]
        assert node["component"]["department"] == DEPARTMENT_OF_CLASS[node["componentId"][6:10]]
    calls = data_calls_since(mock_departments, before)
    departments_joined = {n["component"]["department"] for n in joined}
    for department in departments_joined:
        assert calls[department] == 1, calls
    assert calls["citymgmt"] == 1, calls


async def test_department_down_gives_partial_data_and_one_error_naming_it(
    gateway: httpx.AsyncClient, mock_departments: MockDepartments,
) -> None:
    mock_departments.set_faults("water", down=True)
    body = await graphql(gateway, """
        { components(filter: {regionCode: "370811", classCodes: ["0113", "0201", "0602"]}, first: 2000) {
            nodes { id department } } }""")
    departments = {node["department"] for node in body["data"]["components"]["nodes"]}
    assert departments == {"transport", "housing"}
    assert [(e["extensions"]["code"], e["extensions"]["department"], e["path"]) for e in body["errors"]] == [
        ("UPSTREAM_UNAVAILABLE", "water", ["components"])]

    joined = await graphql(gateway, "{ events(first: 100) { nodes { componentId component { id department } } } }")
    nodes = joined["data"]["events"]["nodes"]
    water = [n for n in nodes if n["componentId"] and DEPARTMENT_OF_CLASS[n["componentId"][6:10]] == "water"]
    others = [n for n in nodes if n["componentId"] and DEPARTMENT_OF_CLASS[n["componentId"][6:10]] != "water"]
    assert water and all(n["component"] is None for n in water)
    assert others and all(n["component"] is not None for n in others)
    assert [e["extensions"]["department"] for e in joined["errors"]] == ["water"]


@pytest.mark.parametrize(("faults", "code"), [
    ({"latency_ms": 6000}, "UPSTREAM_TIMEOUT"),
    ({"malformed": True}, "UPSTREAM_BAD_RESPONSE"),
    ({"error_rate": 1.0}, "UPSTREAM_UNAVAILABLE"),
])
async def test_each_kind_of_department_failure_has_its_code(
    gateway: httpx.AsyncClient, mock_departments: MockDepartments, faults: dict[str, Any], code: str,
) -> None:
    mock_departments.set_faults("water", **faults)
    response = await gateway.post("/graphql", json={"query": """
        { components(filter: {classCodes: ["0113", "0203"]}, first: 10) { totalCount nodes { id department } } }"""})
    assert response.status_code == 200
    body = response.json()
    assert {n["department"] for n in body["data"]["components"]["nodes"]} == {"transport"}
    assert [(e["extensions"]["code"], e["extensions"]["department"]) for e in body["errors"]] == [(code, "water")]


async def test_pagination_walks_a_district_without_duplicates_or_gaps(
    gateway: httpx.AsyncClient, inventory: Inventory,
) -> None:
    expected = sorted(c.id for c in inventory.by_id.values() if c.region_code == "370812")
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = await graphql(gateway, """
            query($after: String) {
              components(filter: {regionCode: "370812"}, first: 1500, after: $after) {
                totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }""",
                             {"after": after})
        assert "errors" not in body, body
        connection = body["data"]["components"]
        assert connection["totalCount"] == len(expected)
        seen.extend(edge["node"]["id"] for edge in connection["edges"])
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        assert connection["pageInfo"]["endCursor"] == connection["edges"][-1]["cursor"]
        after = connection["pageInfo"]["endCursor"]
    assert pages == -(-len(expected) // 1500)
    assert seen == expected


async def test_resuming_from_a_middle_edge_cursor_continues_the_merged_order(
    gateway: httpx.AsyncClient, inventory: Inventory,
) -> None:
    classes = ["0103", "0203", "0308", "0602", "2150"]
    expected = sorted(c.id for c in inventory.by_id.values()
                      if c.region_code == "370811" and c.class_code in classes)
    query = """query($after: String, $first: Int!) { components(filter: {regionCode: "370811",
        classCodes: ["0103", "0203", "0308", "0602", "2150"]}, first: $first, after: $after) {
        edges { cursor node { id } } } }"""
    first = await graphql(gateway, query, {"first": 2500, "after": None})
    edges = first["data"]["components"]["edges"]
    middle = 1234
    rest = await graphql(gateway, query, {"first": 77, "after": edges[middle]["cursor"]})
    assert [e["node"]["id"] for e in rest["data"]["components"]["edges"]] == expected[middle + 1: middle + 78]


@pytest.mark.parametrize(("query", "argument"), [
    ('{ component(id: "370811010100001") { id } }', "id"),
    ('{ component(id: "3708119999000001") { id } }', "id"),
    ('{ components(after: "not-a-cursor") { totalCount } }', "after"),
    ('{ components(first: -1) { totalCount } }', "first"),
    ('{ components(filter: {regionCode: "37a"}) { totalCount } }', "regionCode"),
    ('{ components(filter: {classCodes: ["9999"]}) { totalCount } }', "classCodes"),
    ('{ components(filter: {gridCode: "3708110101"}) { totalCount } }', "gridCode"),
    ('{ components(filter: {near: {lng: 116.6, lat: 35.4, radiusM: -5}}) { totalCount } }', "near"),
    ('{ events(filter: {componentId: "123"}) { totalCount } }', "componentId"),
])
async def test_bad_arguments_get_bad_user_input_without_a_stack_trace(
    gateway: httpx.AsyncClient, query: str, argument: str,
) -> None:
    response = await gateway.post("/graphql", json={"query": query})
    body = response.json()
    assert body["data"] is None or all(v is None for v in body["data"].values())
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == argument
    assert "Traceback" not in response.text and "File \"" not in response.text


async def test_a_cursor_replayed_with_another_filter_is_refused(gateway: httpx.AsyncClient) -> None:
    body = await graphql(gateway, '{ components(filter: {regionCode: "370811"}, first: 5) { pageInfo { endCursor } } }')
    cursor = body["data"]["components"]["pageInfo"]["endCursor"]
    replay = await graphql(gateway, 'query($a: String) { components(filter: {regionCode: "370812"}, first: 5, '
                                    'after: $a) { totalCount } }', {"a": cursor})
    assert replay["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    again = await graphql(gateway, 'query($a: String) { components(filter: {regionCode: "370811"}, first: 5, '
                                   'after: $a) { totalCount } }', {"a": tampered})
    assert again["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_component_by_id_resolves_the_concrete_type_from_its_department(
    gateway: httpx.AsyncClient, inventory: Inventory,
) -> None:
    from mocks.city import attributes

    hydrant = inventory.buckets[("370812", "0113")][41]
    truth = attributes(hydrant, inventory.anchor)
    body = await graphql(gateway, """query($id: ID!) { component(id: $id) { __typename id name status
        ... on Hydrant { pressureMpa hydrantType } owner { name creditCode } authority } }""", {"id": hydrant.id})
    component = body["data"]["component"]
    assert component["__typename"] == "Hydrant"
    assert component["pressureMpa"] == pytest.approx(truth["pressure_mpa"], abs=1e-6)
    assert component["hydrantType"] == truth["hydrant_type"]
    assert component["status"] == hydrant.status
    assert component["authority"] == "济宁市城乡水务局"
    missing = await graphql(gateway, '{ component(id: "3708120113999999") { id } }')
    assert missing == {"data": {"component": None}}


async def test_typed_components_of_every_department(gateway: httpx.AsyncClient, inventory: Inventory) -> None:
    ids = {code: inventory.buckets[("370811", code)][0].id
           for code in ("0101", "0113", "2141", "2142", "2143", "0201", "0203", "0210", "0308", "0602", "2150")}
    selection = " ".join(f'c{code}: component(id: "{cid}") {{ __typename id department }}' for code, cid in ids.items())
    body = await graphql(gateway, f"{{ {selection} }}")
    assert "errors" not in body, body
    typenames = {key[1:]: value["__typename"] for key, value in body["data"].items()}
    assert typenames == {"0101": "ManholeCover", "0113": "Hydrant", "2141": "WaterPressurePoint",
                         "2142": "WaterQualityStation", "2143": "FloodingPoint", "0201": "ParkingLot",
                         "0203": "BusStop", "0210": "TrafficSignal", "0308": "AirQualityStation",
                         "0602": "ConstructionSite", "2150": "Building"}


async def test_departments_report_health(gateway: httpx.AsyncClient, mock_departments: MockDepartments) -> None:
    body = await graphql(gateway, "{ departments { id name healthy } }")
    assert {(d["id"], d["healthy"]) for d in body["data"]["departments"]} == {
        ("water", True), ("transport", True), ("environment", True), ("housing", True), ("citymgmt", True)}
    mock_departments.set_faults("housing", down=True)
    body = await graphql(gateway, "{ departments { id healthy problem } }")
    health = {d["id"]: d for d in body["data"]["departments"]}
    assert health["housing"]["healthy"] is False and "housing" in health["housing"]["problem"]
    assert health["water"]["healthy"] is True
    ready = await gateway.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert ready.json()["departments"]["housing"]["healthy"] is False


async def test_alerts_and_component_events(gateway: httpx.AsyncClient) -> None:
    body = await graphql(gateway, """{ alerts(filter: {level: [RED, ORANGE]}, first: 20) { totalCount
        nodes { id metric value unit threshold level department component { id department } } } }""")
    assert "errors" not in body, body
    alerts = body["data"]["alerts"]["nodes"]
    assert alerts and all(a["level"] in ("RED", "ORANGE") for a in alerts)
    assert all(a["component"]["department"] == a["department"] for a in alerts)
    events = await graphql(gateway, """{ events(filter: {classes: [{kind: COMPONENT, code: "0101"}]}, first: 1) {
        nodes { componentId component { id events { id componentId } } } } }""")
    node = events["data"]["events"]["nodes"][0]
    assert node["componentId"] in [e["componentId"] for e in node["component"]["events"]]


def data_calls_since(mocks: MockDepartments, before: dict[str, int]) -> dict[str, int]:
    """Department calls for data since ``before`` (an OAuth2 token request is not a data call)."""
    return {department: sum(1 for r in mocks.requests_since(department, since) if r["path"] != "/oauth/token")
            for department, since in before.items()}
