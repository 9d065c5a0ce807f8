"""The housing connector against its mock department, checked against the inventory's ground truth."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from connectors.catalogue import ATTRIBUTE_FIELDS, TYPE_BY_CLASS
from connectors.client import DepartmentClient
from connectors.housing import MAX_BATCH_IDS, MAX_PAGE_SIZE, HousingConnector
from connectors.records import BBox, ComponentQuery, ComponentRecord, ComponentStatus, Near, Organization
from gateway.exceptions import UpstreamBadResponse, UpstreamUnavailable, UserInputError
from mocks.city import DEPARTMENT_NAMES, DISTRICTS, BaseComponent, Inventory, attributes, organizations
from mocks.control import MockControl
from mocks.housing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Renderer, create_app
from tests.departments import control_client, department_client

INVENTORY = Inventory(scale=0.05)
BASE_URL = "http://housing"
TOKEN_PATH = "/oauth/token"
STATUS_CODE = {"INTACT": 1, "DAMAGED": 2, "MISSING": 3, "OCCUPIED": 4, "RETIRED": 5}
COORDINATE_TOLERANCE_DEG = 1e-6


# --- helpers ------------------------------------------------------------------------------------------------
def housing_components(**filters: Any) -> list[BaseComponent]:
    return list(INVENTORY.select("housing", **filters))


def expected_ids(**filters: Any) -> list[str]:
    return [c.id for c in housing_components(**filters)]


def plain_client(app: MockControl) -> httpx.AsyncClient:
    return control_client(app)


def make_connector(app: MockControl, **options: Any) -> HousingConnector:
    options = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, **options}
    return HousingConnector(department_client(app), **options)


async def request_log(app: MockControl) -> list[dict[str, Any]]:
    async with plain_client(app) as client:
        entries: list[dict[str, Any]] = (await client.get("/_mock/requests")).json()["requests"]
    return entries


async def api_requests(app: MockControl) -> list[dict[str, Any]]:
    return [entry for entry in await request_log(app) if entry["path"] != TOKEN_PATH]


async def token_requests(app: MockControl) -> list[dict[str, Any]]:
    return [entry for entry in await request_log(app) if entry["path"] == TOKEN_PATH]


def query_params(entry: dict[str, Any]) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(entry["query"]).items()}


async def set_faults(app: MockControl, faults: dict[str, Any]) -> None:
    async with plain_client(app) as client:
        (await client.post("/_mock/faults", json=faults)).raise_for_status()


async def access_token(client: httpx.AsyncClient) -> str:
    response = await client.post(TOKEN_PATH, data={
        "grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET})
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


async def walk(connector: HousingConnector, query: ComponentQuery, first: int) -> list[ComponentRecord]:
    """Every match, page by page, checking totals and has_more on the way."""
    truth_total = len(housing_components(**selection_filters(query)))
    items: list[ComponentRecord] = []
    after: str | None = None
    while True:
        page = await connector.search_components(query, after, first)
        assert page.total == truth_total
        assert len(page.items) == len(page.positions) <= first
        items.extend(page.items)
        assert page.has_more == (len(items) < truth_total)
        if not page.has_more:
            return items
        after = page.positions[-1]


def selection_filters(query: ComponentQuery) -> dict[str, Any]:
    """The same query in ``Inventory.select`` terms, computed independently of the connector."""
    return {
        "regions": query.region_codes,
        "class_codes": query.class_codes,
        "grid_code": query.grid_code,
        "statuses": [status.value for status in query.statuses] if query.statuses is not None else None,
        "bbox": (query.bbox.min_lng, query.bbox.min_lat, query.bbox.max_lng, query.bbox.max_lat)
        if query.bbox else None,
        "near": (query.near.lng, query.near.lat, query.near.radius_m) if query.near else None,
    }


def assert_matches_inventory(record: ComponentRecord) -> None:
    truth = INVENTORY.get(record.id)
    assert truth is not None
    owner, maintainer = organizations("housing", truth)
    assert record.class_code == truth.class_code
    assert record.name == truth.name
    assert record.status == ComponentStatus(truth.status)
    assert record.region_code == truth.region_code
    assert record.grid_code == truth.grid_code
    assert abs(record.lng - truth.lng) <= COORDINATE_TOLERANCE_DEG
    assert abs(record.lat - truth.lat) <= COORDINATE_TOLERANCE_DEG
    assert record.department_id == HousingConnector.department_id
    assert record.department_name == DEPARTMENT_NAMES["housing"]
    assert record.owner == Organization(owner.name, owner.credit_code)
    assert record.maintainer == Organization(maintainer.name, maintainer.credit_code)
    assert record.updated_at == truth.updated_at
    assert record.updated_at.utcoffset() == timedelta(hours=8)
    assert dict(record.attributes) == attributes(truth, INVENTORY.anchor)
    assert set(record.attributes) == set(ATTRIBUTE_FIELDS[TYPE_BY_CLASS[record.class_code]])


@pytest.fixture
def mock_app() -> MockControl:
    return create_app(INVENTORY)


@pytest.fixture
async def connector(mock_app: MockControl) -> AsyncIterator[HousingConnector]:
    conn = make_connector(mock_app)
    yield conn
    await conn.aclose()


# --- batch fetch and field mapping --------------------------------------------------------------------------
def sample_ids() -> list[str]:
    """A few of each class in each district, plus one of every status."""
    ids = [bucket[i].id for (region, code), bucket in sorted(INVENTORY.buckets.items())
           if code in ("0602", "2150") for i in (0, 3, len(bucket) - 1)]
    for status in ComponentStatus:
        ids.extend(c.id for c in itertools.islice(housing_components(statuses=[status.value]), 1))
    return list(dict.fromkeys(ids))


async def test_batch_fetch_maps_every_field_in_one_call(
    connector: HousingConnector, mock_app: MockControl,
) -> None:
    ids = sample_ids()
    records = await connector.get_components(ids)
    assert [r.id for r in records] == ids
    for record in records:
        assert_matches_inventory(record)
    calls = await api_requests(mock_app)
    assert len(calls) == 1
    assert calls[0]["path"] == "/api/objects"
    assert query_params(calls[0])["ids"].split(",") == ids


async def test_every_status_code_maps(connector: HousingConnector) -> None:
    seen = {record.status for record in await connector.get_components(sample_ids())}
    present = {ComponentStatus(c.status) for c in housing_components()}
    assert seen == present


async def test_batch_skips_unknown_and_foreign_ids(
    connector: HousingConnector, mock_app: MockControl,
) -> None:
    known = [housing_components(regions=["370812"], class_codes=["2150"])[5].id]
    unknown = "3708112150999999"
    foreign = "3708110101000001"  # a water manhole cover: never asked of housing
    records = await connector.get_components([unknown, *known, foreign, "not-an-id", *known])
    assert [r.id for r in records] == known
    calls = await api_requests(mock_app)
    assert len(calls) == 1
    assert query_params(calls[0])["ids"].split(",") == [unknown, *known]


async def test_batch_chunks_at_the_department_limit(
    connector: HousingConnector, mock_app: MockControl,
) -> None:
    ids = expected_ids()[:250]
    records = await connector.get_components(ids)
    assert [r.id for r in records] == ids
    calls = await api_requests(mock_app)
    assert len(calls) == -(-len(ids) // MAX_BATCH_IDS)
    assert all(len(query_params(call)["ids"].split(",")) <= MAX_BATCH_IDS for call in calls)


async def test_batch_of_no_housing_ids_makes_no_call(
    connector: HousingConnector, mock_app: MockControl,
) -> None:
    assert await connector.get_components(["3708110101000001"]) == []
    assert await request_log(mock_app) == []


# --- search and pagination ----------------------------------------------------------------------------------
@pytest.mark.parametrize("first", [1, 7, 50, 123, MAX_PAGE_SIZE, 333])
async def test_walk_a_district_across_both_classes(connector: HousingConnector, first: int) -> None:
    query = ComponentQuery(region_codes=("370811",))
    items = await walk(connector, query, first)
    assert [r.id for r in items] == expected_ids(regions=["370811"])
    for record in items[:: max(1, len(items) // 20)]:
        assert_matches_inventory(record)


@pytest.mark.parametrize("first", [3, 45])
async def test_walk_one_class_uses_its_endpoint(connector: HousingConnector, mock_app: MockControl,
                                                first: int) -> None:
    query = ComponentQuery(region_codes=("370812",), class_codes=("2150",))
    items = await walk(connector, query, first)
    assert [r.id for r in items] == expected_ids(regions=["370812"], class_codes=["2150"])
    assert {call["path"] for call in await api_requests(mock_app)} == {"/api/buildings"}


async def test_resume_after_any_item_with_another_page_size(connector: HousingConnector) -> None:
    query = ComponentQuery(statuses=(ComponentStatus.INTACT, ComponentStatus.DAMAGED))
    truth = expected_ids(statuses=["INTACT", "DAMAGED"])
    page = await connector.search_components(query, None, 50)
    for consumed in (0, 9, 31, 49):
        resumed = await connector.search_components(query, page.positions[consumed], 13)
        assert [r.id for r in resumed.items] == truth[consumed + 1: consumed + 14]
    last = await connector.search_components(query, str(len(truth) - 1), 10)
    assert [r.id for r in last.items] == truth[-1:]
    assert not last.has_more
    assert last.positions == [str(len(truth))]


async def test_large_first_spans_several_department_pages(connector: HousingConnector,
                                                          mock_app: MockControl) -> None:
    page = await connector.search_components(ComponentQuery(), "5", 333)
    assert [r.id for r in page.items] == expected_ids()[5:338]
    calls = await api_requests(mock_app)
    assert sorted((int(query_params(c)["offset"]), int(query_params(c)["limit"])) for c in calls) == [
        (5, MAX_PAGE_SIZE), (5 + MAX_PAGE_SIZE, 333 - MAX_PAGE_SIZE)]


async def test_first_zero_counts_without_items(connector: HousingConnector) -> None:
    page = await connector.search_components(ComponentQuery(region_codes=("370812",)), None, 0)
    assert page.items == [] and page.positions == []
    assert page.total == len(expected_ids(regions=["370812"]))
    assert page.has_more


async def test_bad_resume_position_is_user_input(connector: HousingConnector) -> None:
    with pytest.raises(UserInputError):
        await connector.search_components(ComponentQuery(), "abc", 10)


# --- filters pushed down ------------------------------------------------------------------------------------
def some_building() -> BaseComponent:
    return housing_components(regions=["370811"], class_codes=["2150"])[17]


def filter_cases() -> list[tuple[str, ComponentQuery, dict[str, str], str]]:
    """(name, query, parameters the department must receive, path)."""
    anchor = some_building()
    district = DISTRICTS["370811"]
    mid_lng, mid_lat = (district.min_lng + district.max_lng) / 2, (district.min_lat + district.max_lat) / 2
    bbox = BBox(district.min_lng, district.min_lat, mid_lng, mid_lat)
    near = Near(anchor.lng, anchor.lat, 2500.0)
    return [
        ("district", ComponentQuery(region_codes=("370812",)), {"district": "370812"}, "/api/objects"),
        ("grid", ComponentQuery(grid_code=anchor.grid_code), {"grid": anchor.grid_code}, "/api/objects"),
        ("status", ComponentQuery(statuses=(ComponentStatus.DAMAGED, ComponentStatus.OCCUPIED)),
         {"status": "2,4"}, "/api/objects"),
        ("bbox", ComponentQuery(bbox=bbox),
         {"bbox": f"{bbox.min_lng!r},{bbox.min_lat!r},{bbox.max_lng!r},{bbox.max_lat!r}"}, "/api/objects"),
        ("near", ComponentQuery(near=near), {"near": f"{near.lng!r},{near.lat!r},2500.0"}, "/api/objects"),
        ("sites", ComponentQuery(class_codes=("0602", "0101")), {}, "/api/construction-sites"),
        ("both classes", ComponentQuery(class_codes=("2150", "0602")), {"classCode": "0602,2150"},
         "/api/objects"),
        ("all at once", ComponentQuery(
            region_codes=("370811",), grid_code=anchor.grid_code, class_codes=("2150",),
            statuses=(ComponentStatus(anchor.status),), bbox=BBox(anchor.lng - 0.01, anchor.lat - 0.01,
                                                                  anchor.lng + 0.01, anchor.lat + 0.01),
            near=Near(anchor.lng, anchor.lat, 300.0)),
         {"district": "370811", "grid": anchor.grid_code, "status": str(STATUS_CODE[anchor.status])},
         "/api/buildings"),
    ]


@pytest.mark.parametrize("case", filter_cases(), ids=lambda case: case[0])
async def test_filters_are_pushed_down(connector: HousingConnector, mock_app: MockControl,
                                       case: tuple[str, ComponentQuery, dict[str, str], str]) -> None:
    _, query, sent, path = case
    items = await walk(connector, query, 40)
    truth = expected_ids(**selection_filters(query))
    assert truth, "a filter case should match something"
    assert [r.id for r in items] == truth
    calls = await api_requests(mock_app)
    assert {call["path"] for call in calls} == {path}
    for call in calls:
        params = query_params(call)
        assert params.items() >= sent.items()
        for name in ("bbox", "near"):
            assert (name in params) == (getattr(query, name) is not None)


async def test_classes_the_department_does_not_serve_need_no_call(connector: HousingConnector,
                                                                  mock_app: MockControl) -> None:
    page = await connector.search_components(ComponentQuery(class_codes=("0101",)), None, 10)
    assert (page.items, page.total, page.has_more) == ([], 0, False)
    assert await request_log(mock_app) == []


# --- OAuth2 -------------------------------------------------------------------------------------------------
async def test_token_is_fetched_once_and_sent_on_every_call(connector: HousingConnector,
                                                            mock_app: MockControl) -> None:
    await connector.check_health()
    await connector.search_components(ComponentQuery(), None, 5)
    await connector.get_components(expected_ids()[:3])
    assert (await request_log(mock_app))[0]["path"] == TOKEN_PATH
    assert len(await token_requests(mock_app)) == 1
    assert parse_qs((await token_requests(mock_app))[0]["query"]) == {}
    authorizations = {entry["headers"]["authorization"] for entry in await api_requests(mock_app)}
    assert len(authorizations) == 1 and authorizations.pop().startswith("Bearer ")


async def test_concurrent_callers_share_one_token_fetch(connector: HousingConnector,
                                                        mock_app: MockControl) -> None:
    pages = await asyncio.gather(*(
        connector.search_components(ComponentQuery(), str(offset), 5) for offset in range(0, 100, 10)))
    assert all(len(page.items) == 5 for page in pages)
    assert len(await token_requests(mock_app)) == 1


class FakeClock:
    def __init__(self, start: float = 1000.0, step: float = 0.0) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def test_token_expired_at_the_department_is_renewed_once() -> None:
    department_clock = FakeClock()
    app = create_app(INVENTORY, token_ttl_s=300, clock=department_clock)
    connector = make_connector(app)
    await connector.check_health()
    department_clock.now += 301
    page = await connector.search_components(ComponentQuery(), None, 3)
    assert [r.id for r in page.items] == expected_ids()[:3]
    paths = [entry["path"] for entry in await request_log(app)]
    assert paths == [TOKEN_PATH, "/api/ping", "/api/objects", TOKEN_PATH, "/api/objects"]
    first_try, retry = (await api_requests(app))[1:]
    assert first_try["headers"]["authorization"] != retry["headers"]["authorization"]
    await connector.aclose()


async def test_token_is_renewed_shortly_before_expiry(mock_app: MockControl) -> None:
    connector_clock = FakeClock()
    connector = make_connector(mock_app, clock=connector_clock)
    await connector.check_health()
    connector_clock.now += 200
    await connector.check_health()
    assert len(await token_requests(mock_app)) == 1
    connector_clock.now += 80  # 280 s into a 300 s token: inside the renewal margin
    await connector.check_health()
    paths = [entry["path"] for entry in await request_log(mock_app)]
    assert paths == [TOKEN_PATH, "/api/ping", "/api/ping", TOKEN_PATH, "/api/ping"]
    await connector.aclose()


async def test_a_token_refused_after_renewal_is_not_retried_forever() -> None:
    app = create_app(INVENTORY, token_ttl_s=300, clock=FakeClock(step=1000.0))  # every token is stale at once
    connector = make_connector(app)
    with pytest.raises(UpstreamUnavailable):
        await connector.check_health()
    paths = [entry["path"] for entry in await request_log(app)]
    assert paths == [TOKEN_PATH, "/api/ping", TOKEN_PATH, "/api/ping"]
    await connector.aclose()


async def test_wrong_credentials_are_unavailable_with_a_clear_message(mock_app: MockControl) -> None:
    connector = make_connector(mock_app, client_secret="wrong")
    with pytest.raises(UpstreamUnavailable) as raised:
        await connector.search_components(ComponentQuery(), None, 5)
    assert "OAuth2 token" in raised.value.detail and DEMO_CLIENT_ID in raised.value.detail  # for the log
    assert "HTTP 401" in raised.value.detail  # the token endpoint's refusal, kept in the detail
    assert raised.value.message == "the housing department is unavailable"  # for callers: no client id
    assert raised.value.department == "housing"
    assert await api_requests(mock_app) == []
    await connector.aclose()


async def test_custom_credentials_of_the_mock(mock_app: MockControl) -> None:
    app = create_app(INVENTORY, client_id="other", client_secret="s3cret")
    connector = make_connector(app, client_id="other", client_secret="s3cret")
    await connector.check_health()
    await connector.aclose()
    log = await request_log(app)
    assert [(entry["method"], entry["path"]) for entry in log] == [("POST", TOKEN_PATH), ("GET", "/api/ping")]
    # The demo credentials no longer open this mock: the custom pair above is what signed in.
    demo = make_connector(app)
    with pytest.raises(UpstreamUnavailable) as raised:
        await demo.check_health()
    assert "OAuth2 token" in str(raised.value) and DEMO_CLIENT_ID in str(raised.value)
    await demo.aclose()


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
