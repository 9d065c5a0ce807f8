"""The 供水排水 department's faults, health and dialect on the wire, and WaterConnector's answers to them."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
import pytest

from connectors.client import DepartmentClient
from connectors.records import ComponentQuery
from connectors.water import WaterConnector
from gateway.exceptions import UpstreamBadResponse, UpstreamUnavailable
from tests.water_fixtures import (
    INVENTORY,
    fixture_raw,  # noqa: F401 (the pytest fixture raw)
    fixture_water,  # noqa: F401 (the pytest fixture water)
    log_position,
    mock_client,
    requests_since,
    sample_of_every_class,
    set_faults,
    water_rows,
)


# --- faults and health --------------------------------------------------------------------------------------
async def test_department_down_is_unavailable(water: WaterConnector) -> None:
    await set_faults({"down": True})
    with pytest.raises(UpstreamUnavailable):
        await water.search_components(ComponentQuery(), None, 10)
    with pytest.raises(UpstreamUnavailable):
        await water.get_components([INVENTORY.buckets[("370811", "0101")][0].id])
    with pytest.raises(UpstreamUnavailable):
        await water.check_health()


async def test_malformed_answer_is_a_bad_response(water: WaterConnector) -> None:
    await set_faults({"malformed": True})
    with pytest.raises(UpstreamBadResponse):
        await water.search_components(ComponentQuery(), None, 10)
    with pytest.raises(UpstreamBadResponse):
        await water.get_components([INVENTORY.buckets[("370811", "0101")][0].id])
    with pytest.raises(UpstreamBadResponse):
        await water.check_health()


async def test_reset_faults_restores_service(water: WaterConnector) -> None:
    await set_faults({"down": True})
    await set_faults({})
    await water.check_health()
    page = await water.search_components(ComponentQuery(), None, 5)
    assert len(page.items) == 5


async def test_health_of_a_running_department(water: WaterConnector) -> None:
    since = await log_position()
    await water.check_health()
    assert [call["path"] for call in await requests_since(since)] == ["/api/v1/health"]


def scripted_connector(payload: Any, status: int = 200) -> WaterConnector:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=orjson.dumps(payload)))
    return WaterConnector(DepartmentClient("http://water", transport=transport))


async def test_health_reporting_down_is_unavailable() -> None:
    connector = scripted_connector({"code": 0, "msg": "ok", "data": {"status": "DOWN"}})
    with pytest.raises(UpstreamUnavailable):
        await connector.check_health()


async def test_error_envelope_and_unknown_state_are_bad_responses() -> None:
    refused = scripted_connector({"code": 50001, "msg": "数据库连接失败", "data": None})
    with pytest.raises(UpstreamBadResponse):
        await refused.search_components(ComponentQuery(), None, 10)
    facility = (await (await _raw_facility()).aread())
    record = orjson.loads(facility)["data"]["records"][0]
    odd_record = {**record, "state": "维修中"}
    odd = scripted_connector({"code": 0, "msg": "ok", "data": {"total": 1, "records": [odd_record]}})
    with pytest.raises(UpstreamBadResponse):
        await odd.get_components([record["facility_code"]])
    wrong_status = scripted_connector({"code": 40001, "msg": "参数错误", "data": None}, status=400)
    with pytest.raises(UpstreamBadResponse):
        await wrong_status.check_health()


async def _raw_facility() -> httpx.Response:
    async with mock_client() as client:
        response = await client.get("/api/v1/facilities", params={"size": 1})
        await response.aread()
        return response


# --- the dialect itself -------------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [
    {"size": "5000"}, {"size": "0"}, {"page": "0"}, {"page": "abc"}, {"state": "坏了"},
    {"bbox": "116.5,35.4,116.6"}, {"bbox": "116.6,35.4,116.5,35.5"}, {"center": "116.5,35.4"},
    {"radius": "500"}, {"center": "116.5,35.4", "radius": "-1"}, {"grid_code": "12345"},
    {"district_codes": "3708"}, {"type_codes": "01"},
])
async def test_bad_parameters_get_a_400_in_the_department_style(raw: httpx.AsyncClient,
                                                                 params: dict[str, str]) -> None:
    response = await raw.get("/api/v1/facilities", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] != 0 and body["msg"] and body["data"] is None


async def test_batch_refuses_more_than_100_codes_and_empty_codes(raw: httpx.AsyncClient) -> None:
    codes = ",".join(row.id for row in water_rows()[:101])
    for params in ({"codes": codes}, {}):
        response = await raw.get("/api/v1/facilities/batch", params=params)
        assert response.status_code == 400
        assert response.json()["code"] != 0


async def test_unknown_path_answers_in_the_envelope(raw: httpx.AsyncClient) -> None:
    response = await raw.get("/api/v1/pipes")
    assert response.status_code == 404
    assert response.json()["code"] != 0


async def test_page_and_size_are_one_based_and_echoed(raw: httpx.AsyncClient) -> None:
    truth = water_rows(regions=["370812"], class_codes=["0103"])
    answer = (await raw.get("/api/v1/facilities", params={"district_codes": "370812", "type_codes": "0103",
                                                          "page": "3", "size": "7"})).json()["data"]
    assert (answer["page"], answer["size"], answer["total"]) == (3, 7, len(truth))
    assert [record["facility_code"] for record in answer["records"]] == [row.id for row in truth[14:21]]


# Minimal JSON-schema check for the subset the OpenAPI document uses.
def check_schema(value: Any, schema: dict[str, Any], schemas: dict[str, Any], where: str) -> None:
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
    if value is None:
        assert schema.get("nullable"), f"{where} is null but not nullable"
        return
    kind = schema.get("type")
    python_types: dict[str, Any] = {"object": dict, "array": list, "string": str, "integer": int,
                                    "number": (int, float), "boolean": bool}
    if kind is not None:
        assert isinstance(value, python_types[kind]) and not isinstance(value, bool), f"{where}: {value!r}"
    if "enum" in schema:
        assert value in schema["enum"], where
    if "pattern" in schema:
        assert re.search(schema["pattern"], value), f"{where}: {value!r}"
    if kind == "object":
        properties = schema.get("properties", {})
        assert set(schema.get("required", ())) <= set(value), f"{where} misses required fields"
        undocumented = set(value) - set(properties)
        assert not undocumented, f"{where} has undocumented fields {undocumented}"
        for name, item in value.items():
            check_schema(item, properties[name], schemas, f"{where}.{name}")
    if kind == "array":
        for index, item in enumerate(value):
            check_schema(item, schema["items"], schemas, f"{where}[{index}]")


async def test_openapi_document_describes_the_real_answers(raw: httpx.AsyncClient) -> None:
    response = await raw.get("/openapi.json")
    document = orjson.loads(response.content)
    assert document["openapi"].startswith("3.0")
    assert set(document["paths"]) == {"/api/v1/facilities", "/api/v1/facilities/batch", "/api/v1/health"}
    schemas = document["components"]["schemas"]
    list_operation = document["paths"]["/api/v1/facilities"]["get"]
    assert {parameter["name"] for parameter in list_operation["parameters"]} == {
        "district_codes", "grid_code", "type_codes", "state", "bbox", "center", "radius", "page", "size"}
    sample_ids = ",".join(row.id for row in sample_of_every_class()[:100])
    answers = {
        "/api/v1/facilities": await raw.get("/api/v1/facilities", params={"size": "200"}),
        "/api/v1/facilities/batch": await raw.get("/api/v1/facilities/batch", params={"codes": sample_ids}),
        "/api/v1/health": await raw.get("/api/v1/health"),
    }
    for path, answer in answers.items():
        schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        check_schema(answer.json(), schema, schemas, path)
    bad = await raw.get("/api/v1/facilities", params={"size": "0"})
    check_schema(bad.json(), {"$ref": "#/components/schemas/ErrorEnvelope"}, schemas, "400")
