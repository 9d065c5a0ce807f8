"""The 住建 department's faults, health and dialect (spoken directly and varied by hand), and
HousingConnector's answers to them."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from connectors.client import DepartmentClient
from connectors.housing import MAX_BATCH_IDS, MAX_PAGE_SIZE, HousingConnector
from connectors.records import ComponentQuery
from gateway.exceptions import UpstreamBadResponse, UpstreamUnavailable
from mocks.city import DEPARTMENT_NAMES, attributes
from mocks.control import MockControl
from mocks.housing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Renderer
from tests.housing_fixtures import (
    BASE_URL,
    INVENTORY,
    STATUS_CODE,
    TOKEN_PATH,
    access_token,
    api_requests,
    expected_ids,
    fixture_connector,  # noqa: F401 (the pytest fixture connector)
    fixture_mock_app,  # noqa: F401 (the pytest fixture mock_app)
    housing_components,
    plain_client,
    set_faults,
)


# --- faults and health --------------------------------------------------------------------------------------
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "with-token"])
async def test_department_down_is_unavailable(connector: HousingConnector, mock_app: MockControl,
                                              warm: bool) -> None:
    if warm:
        await connector.check_health()
    await set_faults(mock_app, {"down": True})
    with pytest.raises(UpstreamUnavailable):
        await connector.search_components(ComponentQuery(), None, 5)
    with pytest.raises(UpstreamUnavailable):
        await connector.get_components(expected_ids()[:2])
    with pytest.raises(UpstreamUnavailable):
        await connector.check_health()
    await set_faults(mock_app, {})
    await connector.check_health()


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "with-token"])
async def test_malformed_answers_are_bad_responses(connector: HousingConnector, mock_app: MockControl,
                                                   warm: bool) -> None:
    if warm:
        await connector.check_health()
    await set_faults(mock_app, {"malformed": True})
    with pytest.raises(UpstreamBadResponse):
        await connector.search_components(ComponentQuery(), None, 5)
    with pytest.raises(UpstreamBadResponse):
        await connector.get_components(expected_ids()[:2])
    await set_faults(mock_app, {})
    assert len((await connector.search_components(ComponentQuery(), None, 5)).items) == 5


async def test_health_pings_with_the_token(connector: HousingConnector, mock_app: MockControl) -> None:
    await connector.check_health()
    (ping,) = await api_requests(mock_app)
    assert ping["path"] == "/api/ping"
    assert ping["headers"]["authorization"].startswith("Bearer ")


# --- dialect variations the connector must translate --------------------------------------------------------
def crafted_connector(objects: Callable[[], dict[str, Any]]) -> HousingConnector:
    """A connector talking to a stub that answers every ``/api`` call with ``objects()``."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json={"access_token": "t", "token_type": "bearer", "expires_in": 60})
        return httpx.Response(200, content=orjson.dumps(objects()))

    client = DepartmentClient(BASE_URL, transport=httpx.MockTransport(handler))
    return HousingConnector(client, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET)


def rendered_site() -> dict[str, Any]:
    site = housing_components(class_codes=["0602"])[2]
    return Renderer(INVENTORY).render(site)


def one_page(record: dict[str, Any], offset: int = 0) -> dict[str, Any]:
    return {"results": [record], "count": 1, "offset": offset, "limit": 1}


async def test_naive_times_are_china_time_and_mg_dust_is_converted() -> None:
    raw = rendered_site()
    truth = INVENTORY.get(raw["objectId"])
    assert truth is not None
    expected_pm10 = attributes(truth, INVENTORY.anchor)["pm10"]
    raw["modifiedAt"] = truth.updated_at.replace(tzinfo=None).isoformat()
    raw["dust"] = {"pm10": expected_pm10 / 1000, "unit": "mg/m³"}
    connector = crafted_connector(lambda: one_page(raw))
    (record,) = await connector.get_components([raw["objectId"]])
    assert record.updated_at == truth.updated_at
    assert record.attributes["pm10"] == pytest.approx(expected_pm10)
    await connector.aclose()


@pytest.mark.parametrize("spoil", [
    lambda r: r.update(status=9),
    lambda r: r.update(geometry={"type": "Polygon", "coordinates": [[[116.5, 35.4]]]}),
    lambda r: r.update(noise={"value": 60, "unit": "Hz"}),
    lambda r: r.update(dust={"pm10": 60, "unit": "ppm"}),
    lambda r: r.pop("permitNo"),
    lambda r: r.update(classCode="0101"),
    lambda r: r.update(modifiedAt="yesterday"),
], ids=["status", "geometry", "noise-unit", "dust-unit", "missing-field", "foreign-class", "timestamp"])
async def test_records_outside_the_dialect_are_bad_responses(spoil: Callable[[dict[str, Any]], Any]) -> None:
    raw = rendered_site()
    spoil(raw)
    connector = crafted_connector(lambda: one_page(raw))
    with pytest.raises(UpstreamBadResponse):  # at the call, or (class attributes) when the fields are first read
        records = await connector.get_components([rendered_site()["objectId"]])
        [record.resolved() for record in records]
    await connector.aclose()


async def test_a_page_at_the_wrong_offset_is_a_bad_response() -> None:
    connector = crafted_connector(lambda: one_page(rendered_site(), offset=0))
    with pytest.raises(UpstreamBadResponse):
        await connector.search_components(ComponentQuery(), "10", 5)
    await connector.aclose()


# --- the department's dialect, spoken directly --------------------------------------------------------------
async def test_api_calls_need_a_bearer_token(mock_app: MockControl) -> None:
    async with plain_client(mock_app) as client:
        for headers in ({}, {"Authorization": "Bearer forged"}, {"Authorization": "Basic eDp5"}):
            response = await client.get("/api/buildings", headers=headers)
            assert response.status_code == 401
            assert response.json()["error"] == "invalid_token"
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_token_endpoint_speaks_oauth2(mock_app: MockControl) -> None:
    async with plain_client(mock_app) as client:
        basic = base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode()).decode()
        by_basic = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                     headers={"Authorization": f"Basic {basic}"})
        assert by_basic.status_code == 200
        body = by_basic.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 300 and body["access_token"]
        ping = await client.get("/api/ping", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert ping.json() == {"status": "UP", "service": "housing"}
        wrong = await client.post(TOKEN_PATH, data={
            "grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": "nope"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        grant = await client.post(TOKEN_PATH, data={
            "grant_type": "password", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET})
        assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


async def test_raw_page_shape(mock_app: MockControl) -> None:
    async with plain_client(mock_app) as client:
        headers = {"Authorization": f"Bearer {await access_token(client)}"}
        body = (await client.get("/api/construction-sites", params={"district": "370812", "limit": 2},
                                 headers=headers)).json()
    truth = housing_components(regions=["370812"], class_codes=["0602"])
    assert (body["count"], body["offset"], body["limit"]) == (len(truth), 0, 2)
    site = body["results"][0]
    assert site["objectId"] == truth[0].id
    assert site["status"] == STATUS_CODE[truth[0].status] and site["statusText"]
    assert site["geometry"] == {"type": "Point", "coordinates": [truth[0].lng, truth[0].lat]}
    assert site["modifiedAt"].endswith("+08:00") and site["observedAt"].endswith("+08:00")
    assert site["dust"]["unit"] == "µg/m³" and site["noise"]["unit"] == "dB(A)"
    assert site["competentAuthority"] == DEPARTMENT_NAMES["housing"]


@pytest.mark.parametrize(("path", "params"), [
    ("/api/buildings", {"district": "37081"}),
    ("/api/buildings", {"grid": "3708110050400"}),
    ("/api/buildings", {"status": "9"}),
    ("/api/buildings", {"status": "1,,2"}),
    ("/api/buildings", {"bbox": "116.5,35.4,116.6"}),
    ("/api/buildings", {"bbox": "116.6,35.4,116.5,35.5"}),
    ("/api/buildings", {"near": "116.5,35.4,-5"}),
    ("/api/buildings", {"limit": str(MAX_PAGE_SIZE + 1)}),
    ("/api/buildings", {"offset": "-1"}),
    ("/api/buildings", {"colour": "red"}),
    ("/api/buildings", {"classCode": "2150"}),
    ("/api/objects", {"classCode": "0101"}),
    ("/api/objects", {"ids": ",".join(expected_ids()[: MAX_BATCH_IDS + 1])}),
    ("/api/objects", {"ids": "3708112150000001", "district": "370811"}),
])
async def test_bad_parameters_get_a_400_in_the_department_style(mock_app: MockControl, path: str,
                                                                params: dict[str, str]) -> None:
    async with plain_client(mock_app) as client:
        headers = {"Authorization": f"Bearer {await access_token(client)}"}
        response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "detail"} and body["detail"]


async def test_openapi_document_describes_the_real_answers(mock_app: MockControl) -> None:
    async with plain_client(mock_app) as client:
        document = orjson.loads((await client.get("/openapi.json")).content)
        headers = {"Authorization": f"Bearer {await access_token(client)}"}
        building = (await client.get("/api/buildings", params={"limit": 1}, headers=headers)).json()
        site = (await client.get("/api/construction-sites", params={"limit": 1}, headers=headers)).json()
    assert document["openapi"].startswith("3.0")
    assert set(document["paths"]) == {TOKEN_PATH, "/api/buildings", "/api/construction-sites", "/api/objects",
                                      "/api/ping"}
    flow = document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == TOKEN_PATH
    search_params = {p["name"] for p in document["paths"]["/api/buildings"]["get"]["parameters"]}
    assert search_params == {"district", "grid", "status", "bbox", "near", "offset", "limit"}
    object_params = {p["name"] for p in document["paths"]["/api/objects"]["get"]["parameters"]}
    assert object_params == search_params | {"ids", "classCode"}
    schemas = document["components"]["schemas"]
    for page, schema_name in ((building, "Building"), (site, "ConstructionSite")):
        assert set(page) == set(schemas["BuildingPage"]["properties"])
        record = page["results"][0]
        assert set(record) == set(schemas[schema_name]["properties"]) == set(schemas[schema_name]["required"])
    for reference in _references(document):
        name = reference.removeprefix("#/components/schemas/")
        assert name in schemas, reference


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []
