"""The transport department: its mock dialect and the connector that translates it, against the inventory."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.catalogue import ATTRIBUTE_FIELDS, TYPE_BY_CLASS
from connectors.client import DepartmentClient
from connectors.records import BBox, ComponentQuery, ComponentRecord, ComponentStatus, Near, Organization
from connectors.transport import TransportConnector
from gateway.exceptions import UpstreamBadResponse, UpstreamUnavailable, UserInputError
from mocks.city import DEPARTMENT_NAMES, DISTRICTS, BaseComponent, Inventory, attributes, organizations
from mocks.datums import bd09_from_wgs84
from mocks.transport import create_app
from tests.departments import control_client, department_client

INVENTORY = Inventory(scale=0.05)
DEPARTMENT = "transport"
BASE_URL = "http://transport"
COORDINATE_TOLERANCE_DEG = 1e-6
# The department's own words for the national statuses (the dialect), written out independently of the code.
CONDITION_OF = {
    "INTACT": "GOOD", "DAMAGED": "BROKEN", "MISSING": "LOST", "OCCUPIED": "OCCUPIED",
    "RETIRED": "DECOMMISSIONED",
}
RENCHENG = "370811"
CHINA_OFFSET = timedelta(hours=8)


@dataclass
class Department:
    app: Any
    client: httpx.AsyncClient
    connector: TransportConnector

    async def requests_since(self, seq: int) -> list[dict[str, Any]]:
        answer = await self.client.get("/_mock/requests", params={"since": seq})
        return list(answer.json()["requests"])

    async def request_count(self) -> int:
        return int((await self.client.get("/_mock/requests")).json()["total"])

    async def set_faults(self, faults: dict[str, Any]) -> None:
        (await self.client.post("/_mock/faults", json=faults)).raise_for_status()


async def _department(**app_options: Any) -> AsyncIterator[Department]:
    connector_options = {"max_page_size": app_options["max_limit"]} if "max_limit" in app_options else {}
    app = create_app(INVENTORY, **app_options)
    client = control_client(app)
    connector = TransportConnector(department_client(app), **connector_options)
    yield Department(app, client, connector)
    await connector.aclose()
    await client.aclose()


@pytest.fixture
async def dept() -> AsyncIterator[Department]:
    async for department in _department():
        yield department


@pytest.fixture
async def small_pages() -> AsyncIterator[Department]:
    """A department that serves at most 5 items a call, so walks cross many department pages."""
    async for department in _department(max_limit=5):
        yield department


def transport_components() -> list[BaseComponent]:
    return sorted(INVENTORY.of_department(DEPARTMENT), key=lambda c: c.id)


def expected_ids(**filters: Any) -> list[str]:
    return [c.id for c in INVENTORY.select(DEPARTMENT, **filters)]


def query_of(entry: dict[str, Any]) -> dict[str, list[str]]:
    return parse_qs(entry["query"])


def assert_maps(record: ComponentRecord, component: BaseComponent) -> None:
    owner, maintainer = organizations(DEPARTMENT, component)
    assert record.id == component.id
    assert record.class_code == component.class_code
    assert record.name == component.name
    assert record.status is ComponentStatus(component.status)
    assert record.region_code == component.region_code
    assert record.grid_code == component.grid_code
    assert abs(record.lng - component.lng) < COORDINATE_TOLERANCE_DEG
    assert abs(record.lat - component.lat) < COORDINATE_TOLERANCE_DEG
    assert record.department_id == DEPARTMENT
    assert record.department_name == DEPARTMENT_NAMES[DEPARTMENT]
    assert record.owner is not None and record.maintainer is not None
    assert record.owner == Organization(owner.name, owner.credit_code)
    assert record.maintainer == Organization(maintainer.name, maintainer.credit_code)
    assert record.updated_at == component.updated_at
    assert record.updated_at.utcoffset() == CHINA_OFFSET
    assert dict(record.attributes) == attributes(component, INVENTORY.anchor)
    assert set(record.attributes) == set(ATTRIBUTE_FIELDS[TYPE_BY_CLASS[component.class_code]])


async def walk(connector: TransportConnector, query: ComponentQuery, first: int,
               consume: int | None = None) -> tuple[list[str], set[int]]:
    """All ids of a query, page by page, taking ``consume`` items of each page (as a merging gateway may)."""
    ids: list[str] = []
    totals: set[int] = set()
    after: str | None = None
    for _ in range(10_000):
        page = await connector.search_components(query, after, first)
        totals.add(page.total)
        assert len(page.items) == len(page.positions) <= first
        taken = len(page.items) if consume is None else min(consume, len(page.items))
        ids.extend(record.id for record in page.items[:taken])
        if taken < len(page.items):
            after = page.positions[taken - 1]
            continue
        if not page.has_more:
            return ids, totals
        assert page.items, "has_more with an empty page would loop forever"
        after = page.positions[-1]
    raise AssertionError("walk did not finish")


# --- mapping and batch fetch --------------------------------------------------------------------------------
async def test_every_component_maps_to_ground_truth(dept: Department) -> None:
    components = transport_components()
    records = await dept.connector.get_components([c.id for c in components])
    assert [r.id for r in records] == [c.id for c in components]
    for record, component in zip(records, components, strict=True):
        assert_maps(record, component)
    assert {c.status for c in components} >= {"INTACT", "DAMAGED", "OCCUPIED"}
    assert {c.class_code for c in components} == set(TransportConnector.component_classes)


async def test_batch_fetch_is_one_department_call(dept: Department) -> None:
    wanted = [c.id for c in transport_components()[:40]]
    unknown = [f"{RENCHENG}0203999999", f"{RENCHENG}0101000001"]  # beyond the serials; another department's
    seq = await dept.request_count()
    records = await dept.connector.get_components([*wanted, *unknown, wanted[0]])
    assert sorted(r.id for r in records) == sorted(wanted)
    calls = await dept.requests_since(seq)
    assert [(c["method"], c["path"]) for c in calls] == [("POST", "/v2/assets:batchGet")]


async def test_batch_fetch_chunks_at_100_ids(dept: Department) -> None:
    ids = [c.id for c in transport_components()]
    assert len(ids) > 100
    seq = await dept.request_count()
    records = await dept.connector.get_components(ids)
    assert len(records) == len(ids)
    assert len(await dept.requests_since(seq)) == -(-len(ids) // 100)


async def test_no_ids_no_call(dept: Department) -> None:
    seq = await dept.request_count()
    assert await dept.connector.get_components([]) == []
    assert await dept.requests_since(seq) == []


async def test_search_items_map_like_batch_items(dept: Department) -> None:
    page = await dept.connector.search_components(ComponentQuery(region_codes=("370812",)), None, 30)
    for record in page.items:
        component = INVENTORY.get(record.id)
        assert component is not None
        assert_maps(record, component)


# --- pagination ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("first", [1, 7, 13, 50, 61, 62, 200, 501])
async def test_walk_district_without_gaps_or_duplicates(dept: Department, first: int) -> None:
    query = ComponentQuery(region_codes=(RENCHENG,))
    ids, totals = await walk(dept.connector, query, first)
    expected = expected_ids(regions=[RENCHENG])
    assert ids == expected
    assert totals == {len(expected)}


@pytest.mark.parametrize(("first", "consume"), [(10, 3), (7, 1), (13, 12), (50, 49)])
async def test_resume_inside_a_page(dept: Department, first: int, consume: int) -> None:
    query = ComponentQuery(region_codes=(RENCHENG,), class_codes=("0203", "0210"))
    ids, _ = await walk(dept.connector, query, first, consume)
    assert ids == expected_ids(regions=[RENCHENG], class_codes=["0203", "0210"])


@pytest.mark.parametrize(("first", "consume"), [(7, None), (7, 3), (3, 2), (12, 11), (1, None)])
async def test_walk_across_small_department_pages(small_pages: Department, first: int,
                                                  consume: int | None) -> None:
    query = ComponentQuery(region_codes=("370812",))
    ids, totals = await walk(small_pages.connector, query, first, consume)
    expected = expected_ids(regions=["370812"])
    assert ids == expected
    assert totals == {len(expected)}


async def test_page_larger_than_department_limit_takes_several_calls(small_pages: Department) -> None:
    seq = await small_pages.request_count()
    page = await small_pages.connector.search_components(ComponentQuery(), None, 12)
    assert [r.id for r in page.items] == expected_ids()[:12]
    calls = await small_pages.requests_since(seq)
    assert [query_of(c)["limit"] for c in calls] == [["5"], ["5"], ["2"]]
    assert page.has_more


async def test_has_more_and_total_at_the_end(dept: Department) -> None:
    expected = expected_ids(regions=[RENCHENG], class_codes=["0201"])
    query = ComponentQuery(region_codes=(RENCHENG,), class_codes=("0201",))
    exact = await dept.connector.search_components(query, None, len(expected))
    assert [r.id for r in exact.items] == expected
    assert exact.total == len(expected)
    assert not exact.has_more
    after_last = await dept.connector.search_components(query, exact.positions[-1], 5)
    assert (after_last.items, after_last.has_more, after_last.total) == ([], False, len(expected))


async def test_first_zero_reports_total_and_more(dept: Department) -> None:
    page = await dept.connector.search_components(ComponentQuery(region_codes=(RENCHENG,)), None, 0)
    assert (page.items, page.positions) == ([], [])
    assert page.total == len(expected_ids(regions=[RENCHENG]))
    assert page.has_more


async def test_foreign_resume_position_is_user_error(dept: Department) -> None:
    for bad in ("not-base64!!", base64.urlsafe_b64encode(b'{"x":1}').decode(),
                base64.urlsafe_b64encode(b'[null,-1]').decode()):
        with pytest.raises(UserInputError):
            await dept.connector.search_components(ComponentQuery(), bad, 5)


# --- filters ------------------------------------------------------------------------------------------------
def _some_component(class_code: str) -> BaseComponent:
    return next(c for c in transport_components() if c.class_code == class_code and c.region_code == RENCHENG)


async def _search_logged(dept: Department, query: ComponentQuery) -> tuple[list[str], dict[str, list[str]]]:
    seq = await dept.request_count()
    ids, _ = await walk(dept.connector, query, 500)
    calls = await dept.requests_since(seq)
    assert len(calls) == 1
    assert calls[0]["path"] == "/v2/assets"
    return ids, query_of(calls[0])


async def test_region_class_status_and_grid_are_pushed_down(dept: Department) -> None:
    grid = _some_component("0210").grid_code
    query = ComponentQuery(region_codes=(RENCHENG,), grid_code=grid, class_codes=("0210", "0203"),
                           statuses=(ComponentStatus.INTACT, ComponentStatus.DAMAGED))
    ids, params = await _search_logged(dept, query)
    assert params["areaCodes"] == [RENCHENG]
    assert params["gridId"] == [grid]
    assert params["classCodes"] == ["0210,0203"]
    assert params["conditions"] == ["GOOD,BROKEN"]
    expected = expected_ids(regions=[RENCHENG], grid_code=grid, class_codes=["0210", "0203"],
                            statuses=["INTACT", "DAMAGED"])
    assert ids == expected and expected


@pytest.mark.parametrize("status", list(ComponentStatus))
async def test_each_status_filter(dept: Department, status: ComponentStatus) -> None:
    ids, params = await _search_logged(dept, ComponentQuery(statuses=(status,)))
    assert params["conditions"] == [CONDITION_OF[status.value]]
    assert ids == expected_ids(statuses=[status.value])


def _bd09_numbers(raw: str) -> list[float]:
    return [float(part) for part in raw.split(",")]


async def test_bbox_is_pushed_down_in_bd09(dept: Department) -> None:
    district = DISTRICTS[RENCHENG]
    bbox = BBox(district.min_lng, district.min_lat, (district.min_lng + district.max_lng) / 2,
                (district.min_lat + district.max_lat) / 2)
    ids, params = await _search_logged(dept, ComponentQuery(bbox=bbox))
    min_lng, min_lat, max_lng, max_lat = _bd09_numbers(params["bbox"][0])
    assert (min_lng, min_lat) == pytest.approx(bd09_from_wgs84(bbox.min_lng, bbox.min_lat), abs=1e-9)
    assert (max_lng, max_lat) == pytest.approx(bd09_from_wgs84(bbox.max_lng, bbox.max_lat), abs=1e-9)
    expected = expected_ids(bbox=(bbox.min_lng, bbox.min_lat, bbox.max_lng, bbox.max_lat))
    assert ids == expected
    assert 0 < len(expected) < len(expected_ids(regions=[RENCHENG]))


async def test_near_is_pushed_down_in_bd09(dept: Department) -> None:
    centre = _some_component("0201")
    near = Near(centre.lng, centre.lat, 2500.0)
    ids, params = await _search_logged(dept, ComponentQuery(near=near))
    lng, lat, radius = _bd09_numbers(params["near"][0])
    assert (lng, lat) == pytest.approx(bd09_from_wgs84(centre.lng, centre.lat), abs=1e-9)
    assert radius == near.radius_m
    expected = expected_ids(near=(near.lng, near.lat, near.radius_m))
    assert ids == expected
    assert centre.id in ids and len(ids) < len(expected_ids())


async def test_empty_filter_list_matches_nothing_without_a_call(dept: Department) -> None:
    seq = await dept.request_count()
    page = await dept.connector.search_components(ComponentQuery(statuses=()), None, 10)
    assert (page.items, page.total, page.has_more) == ([], 0, False)
    assert await dept.requests_since(seq) == []


# --- faults and health --------------------------------------------------------------------------------------
async def test_department_down_is_unavailable(dept: Department) -> None:
    await dept.set_faults({"down": True})
    with pytest.raises(UpstreamUnavailable):
        await dept.connector.search_components(ComponentQuery(), None, 5)
    with pytest.raises(UpstreamUnavailable):
        await dept.connector.get_components([transport_components()[0].id])
    with pytest.raises(UpstreamUnavailable):
        await dept.connector.check_health()


async def test_malformed_answer_is_bad_response(dept: Department) -> None:
    await dept.set_faults({"malformed": True})
    with pytest.raises(UpstreamBadResponse):
        await dept.connector.search_components(ComponentQuery(), None, 5)
    with pytest.raises(UpstreamBadResponse):
        await dept.connector.get_components([transport_components()[0].id])
    with pytest.raises(UpstreamBadResponse):
        await dept.connector.check_health()


async def test_reset_faults_recovers(dept: Department) -> None:
    await dept.set_faults({"down": True})
    await dept.set_faults({})
    await dept.connector.check_health()
    page = await dept.connector.search_components(ComponentQuery(), None, 3)
    assert [r.id for r in page.items] == expected_ids()[:3]


async def test_health(dept: Department) -> None:
    seq = await dept.request_count()
    await dept.connector.check_health()
    assert [c["path"] for c in await dept.requests_since(seq)] == ["/v2/status"]


def _connector_answering(payload: Any) -> TransportConnector:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=payload)

    return TransportConnector(DepartmentClient(BASE_URL, transport=httpx.MockTransport(handler)))


async def test_not_serving_is_unavailable() -> None:
    with pytest.raises(UpstreamUnavailable):
        connector = _connector_answering({"status": "NOT_SERVING", "version": "2", "serverTime": "x"})
        await connector.check_health()


async def _rendered_asset(dept: Department) -> dict[str, Any]:
    answer = await dept.client.post("/v2/assets:batchGet", json={"assetIds": [_some_component("0201").id]})
    return dict(answer.json()["items"][0])


@pytest.mark.parametrize("damage", [
    {"condition": "SCRAPPED"},
    {"lastModified": "2026-10-01T12:00:00"},  # naive: the dialect promises UTC
    {"position": {"bdLng": "116.5", "bdLat": 35.4}},
    {"assetId": None},
])
async def test_answer_outside_the_dialect_is_bad_response(dept: Department, damage: dict[str, Any]) -> None:
    asset = {**await _rendered_asset(dept), **damage}
    connector = _connector_answering({"items": [asset]})
    with pytest.raises(UpstreamBadResponse):
        await connector.get_components([asset["assetId"] or "x"])


async def test_a_garbled_class_block_fails_only_the_class_attributes(dept: Department) -> None:
    """Class attributes are translated when first read: the record is there, reading them is a bad response."""
    asset = {**await _rendered_asset(dept), "parking": {"totalSpaces": 10}}
    [record] = await _connector_answering({"items": [asset]}).get_components([asset["assetId"]])
    assert record.id == asset["assetId"] and record.name == asset["assetName"]
    with pytest.raises(UpstreamBadResponse):
        record.attributes  # noqa: B018


# --- the mock's dialect, spoken directly --------------------------------------------------------------------
async def test_asset_fields_in_the_dialect(dept: Department) -> None:
    answer = await dept.client.get("/v2/assets", params={"areaCodes": RENCHENG, "limit": 500})
    body = answer.json()
    assert body["nextCursor"] is None and body["totalCount"] == len(body["items"])
    blocks = {"0201": "parking", "0203": "busStop", "0210": "signal"}
    for asset in body["items"]:
        component = INVENTORY.get(asset["assetId"])
        assert component is not None
        truth = attributes(component, INVENTORY.anchor)
        assert asset["condition"] == CONDITION_OF[component.status]
        assert asset["lastModified"].endswith("Z")
        assert asset["authority"] == DEPARTMENT_NAMES[DEPARTMENT]
        bd = bd09_from_wgs84(component.lng, component.lat)
        assert (asset["position"]["bdLng"], asset["position"]["bdLat"]) == pytest.approx(bd, abs=1e-7)
        assert {key for key in blocks.values() if key in asset} == {blocks[component.class_code]}
        if component.class_code == "0203":
            assert asset["busStop"]["routes"] == ";".join(truth["routes"])
            assert asset["busStop"]["shelter"] == ("Y" if truth["has_shelter"] else "N")
        if component.class_code == "0201":
            assert asset["parking"]["hourlyFeeCents"] == round(truth["fee_per_hour_yuan"] * 100)
            assert isinstance(asset["parking"]["hourlyFeeCents"], int)


async def test_raw_cursor_walk(dept: Department) -> None:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 17, **({"cursor": cursor} if cursor else {})}
        body = (await dept.client.get("/v2/assets", params=params)).json()
        assert body["totalCount"] == len(expected_ids())
        ids.extend(asset["assetId"] for asset in body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert ids == expected_ids()


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "501"}, {"limit": "ten"}, {"cursor": "@@@"},
    {"cursor": base64.urlsafe_b64encode(b"hello").decode()}, {"areaCodes": "3708"}, {"gridId": "12"},
    {"classCodes": "02x3"}, {"conditions": "GOOD,INTACT"}, {"bbox": "1,2,3"}, {"bbox": "116.6,35,116.5,36"},
    {"near": "116.5,35.4,-3"}, {"near": "a,b,c"},
])
async def test_bad_parameters_get_400_in_department_style(dept: Department, params: dict[str, str]) -> None:
    answer = await dept.client.get("/v2/assets", params=params)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT" and error["message"]


@pytest.mark.parametrize("body", [b"not json", b'{"ids": []}', b'{"assetIds": [1, 2]}',
                                  b'{"assetIds": [' + b",".join([b'"3708110201000001"'] * 101) + b"]}"])
async def test_bad_batch_gets_400(dept: Department, body: bytes) -> None:
    answer = await dept.client.post("/v2/assets:batchGet", content=body,
                                    headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "INVALID_ARGUMENT"


async def test_unknown_path_answers_in_department_style(dept: Department) -> None:
    answer = await dept.client.get("/v2/nothing")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"


# --- OpenAPI ------------------------------------------------------------------------------------------------
def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,), "number": (int, float),
    "boolean": (bool,),
}


def conforms(document: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "$") -> None:
    """A strict check of the OpenAPI subset the document uses: every key declared, types, enums, required."""
    schema = _resolve(document, schema)
    if value is None:
        assert schema.get("nullable"), f"{where} is null but not nullable"
        return
    kind = schema["type"]
    assert isinstance(value, _JSON_TYPES[kind]), f"{where}: {value!r} is not {kind}"
    assert kind in ("boolean", "object", "array", "string") or not isinstance(value, bool), where
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in enum"
    if isinstance(value, dict):
        missing = set(schema["required"]) - set(value)
        assert not missing, f"{where}: missing {missing}"
        for key, item in value.items():
            assert key in schema["properties"], f"{where}.{key} is not declared"
            conforms(document, schema["properties"][key], item, f"{where}.{key}")
    if isinstance(value, list):
        for index, item in enumerate(value):
            conforms(document, schema["items"], item, f"{where}[{index}]")


def _response_schema(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return dict(document["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"])


def _all_refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _all_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _all_refs(value)


async def test_openapi_describes_the_real_responses(dept: Department) -> None:
    document = (await dept.client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.0")
    assert set(document["paths"]) == {"/v2/assets", "/v2/assets:batchGet", "/v2/status"}
    for ref in _all_refs(document):
        assert ref.rsplit("/", 1)[1] in document["components"]["schemas"], ref
    declared = {p["name"] for p in document["paths"]["/v2/assets"]["get"]["parameters"]}
    assert declared == {"areaCodes", "gridId", "classCodes", "conditions", "bbox", "near", "limit", "cursor"}

    listing = (await dept.client.get("/v2/assets", params={"limit": 100})).json()
    conforms(document, _response_schema(document, "/v2/assets", "get"), listing)
    rest = await dept.client.get("/v2/assets", params={"limit": 500, "cursor": listing["nextCursor"]})
    last = rest.json()
    assert last["nextCursor"] is None
    conforms(document, _response_schema(document, "/v2/assets", "get"), last)
    batch = await dept.client.post("/v2/assets:batchGet", json={"assetIds": [listing["items"][0]["assetId"]]})
    conforms(document, _response_schema(document, "/v2/assets:batchGet", "post"), batch.json())
    status = (await dept.client.get("/v2/status")).json()
    conforms(document, _response_schema(document, "/v2/status", "get"), status)
    error = (await dept.client.get("/v2/assets", params={"limit": 0})).json()
    error_schema = document["paths"]["/v2/assets"]["get"]["responses"]["400"]["content"]["application/json"]
    conforms(document, error_schema["schema"], error)
