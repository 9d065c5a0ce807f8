"""The 交通 department's faults, health, dialect and OpenAPI document, and TransportConnector's answers to them."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import httpx
import pytest

from connectors.client import DepartmentClient
from connectors.records import ComponentQuery
from connectors.transport import TransportConnector
from gateway.exceptions import UpstreamBadResponse, UpstreamUnavailable
from mocks.city import DEPARTMENT_NAMES, attributes
from mocks.datums import bd09_from_wgs84
from tests.transport_fixtures import (
    BASE_URL,
    CONDITION_OF,
    DEPARTMENT,
    INVENTORY,
    RENCHENG,
    Department,
    _some_component,
    expected_ids,
    fixture_dept,  # noqa: F401 (the pytest fixture dept)
    transport_components,
)


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
