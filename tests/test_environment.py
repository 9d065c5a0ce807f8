"""The environment department: its legacy XML mock and EnvironmentConnector, proved against the inventory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree

import httpx
import pytest

from connectors.client import DepartmentClient
from connectors.environment import EnvironmentConnector
from connectors.records import BBox, ComponentQuery, ComponentRecord, ComponentStatus, Near, Organization
from gateway.exceptions import UpstreamBadResponse, UpstreamUnavailable, UserInputError
from mocks.city import (
    DEPARTMENT_NAMES,
    BaseComponent,
    Inventory,
    air_quality,
    attributes,
    distance_m,
    organizations,
    primary_pollutants,
    reading_time,
)
from mocks.control import MockControl
from mocks.environment import create_app
from tests.departments import control_client, department_client

BASE_URL = "http://environment"
SERVICE = "/services/AirQuality.asmx"
DISTRICT = "370811"
UTC_PLUS_8 = timedelta(hours=8)
# 30 stations a district at scale 1: enough rows to page through, still fast to build.
INVENTORY = Inventory(scale=1.0)
STATIONS: list[BaseComponent] = sorted(
    (c for c in INVENTORY.by_id.values() if c.class_code == "0308"), key=lambda c: c.id)
EXPECTED_STATUS = {"INTACT": ComponentStatus.INTACT, "DAMAGED": ComponentStatus.DAMAGED,
                   "MISSING": ComponentStatus.MISSING, "OCCUPIED": ComponentStatus.OCCUPIED,
                   "RETIRED": ComponentStatus.RETIRED}
SHARED_APP = create_app(INVENTORY)


def stations_where(predicate: Callable[[BaseComponent], bool]) -> list[str]:
    return [c.id for c in STATIONS if predicate(c)]


@asynccontextmanager
async def connected(app: MockControl = SHARED_APP, **options: Any) -> AsyncIterator[EnvironmentConnector]:
    connector = EnvironmentConnector(department_client(app), **options)
    try:
        yield connector
    finally:
        await connector.aclose()


@asynccontextmanager
async def plain_client(app: MockControl = SHARED_APP) -> AsyncIterator[httpx.AsyncClient]:
    async with control_client(app) as client:
        yield client


async def request_log(app: MockControl) -> tuple[int, list[dict[str, Any]]]:
    async with plain_client(app) as client:
        log = (await client.get("/_mock/requests")).json()
    return log["total"], log["requests"]


async def requests_since(app: MockControl, seq: int) -> list[dict[str, Any]]:
    async with plain_client(app) as client:
        return list((await client.get("/_mock/requests", params={"since": seq})).json()["requests"])


def query_of(entry: dict[str, Any]) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(entry["query"]).items()}


async def walk(connector: EnvironmentConnector, query: ComponentQuery, first: int) -> list[ComponentRecord]:
    """All matches, page by page, checking totals and has_more on the way."""
    expected_total: int | None = None
    out: list[ComponentRecord] = []
    after: str | None = None
    for _ in range(1000):
        page = await connector.search_components(query, after, first)
        expected_total = page.total if expected_total is None else expected_total
        assert page.total == expected_total
        assert len(page.items) == len(page.positions) <= first
        out.extend(page.items)
        assert page.has_more == (len(out) < page.total)
        if not page.has_more:
            return out
        assert page.items, "has_more with an empty page would never end"
        after = page.positions[-1]
    raise AssertionError("pagination did not end")


# --- field mapping ------------------------------------------------------------------------------------------
def assert_matches_inventory(record: ComponentRecord, hours: int) -> None:
    truth = INVENTORY.by_id[record.id]
    assert record.class_code == truth.class_code == "0308"
    assert record.name == truth.name
    assert record.status is EXPECTED_STATUS[truth.status]
    assert (record.region_code, record.grid_code) == (truth.region_code, truth.grid_code)
    assert abs(record.lng - truth.lng) < 1e-6 and abs(record.lat - truth.lat) < 1e-6
    assert record.department_id == "environment"
    assert record.department_name == DEPARTMENT_NAMES["environment"]
    owner, maintainer = organizations("environment", truth)
    assert record.owner == Organization(owner.name, owner.credit_code)
    assert record.maintainer == Organization(maintainer.name, maintainer.credit_code)
    assert record.updated_at == truth.updated_at and record.updated_at.utcoffset() == UTC_PLUS_8
    expected = attributes(truth, INVENTORY.anchor)
    for key in ("aqi", "pm25", "pm10", "so2", "no2", "o3", "co", "reading_at"):
        assert record.attributes[key] == expected[key], key
    assert record.attributes["reading_at"].utcoffset() == UTC_PLUS_8
    latest_at = reading_time(truth, INVENTORY.anchor)
    assert record.attributes["hourly"] == [
        {"at": latest_at - timedelta(hours=h), **air_quality(truth.seed, h),
         "primary_pollutants": list(primary_pollutants(air_quality(truth.seed, h)))} for h in range(hours)
    ]


async def test_batch_fetch_maps_every_field_from_one_call() -> None:
    ids = [c.id for c in STATIONS]
    unknown = ["3708110308999999", "3708120101000001", "not-an-id"]
    async with connected() as connector:
        before, _ = await request_log(SHARED_APP)
        records = await connector.get_components([*reversed(ids), *unknown, ids[0]])
        calls = await requests_since(SHARED_APP, before)
    assert [r.id for r in records] == ids
    for record in records:
        assert_matches_inventory(record, hours=24)
    assert len(calls) == 1 and calls[0]["path"] == f"{SERVICE}/GetStationsByCodes"
    sent = query_of(calls[0])
    assert sent["codes"].split(",") == sorted({*ids, "3708110308999999"})
    assert sent["hours"] == "24"


async def test_status_vocabulary_covers_the_inventory() -> None:
    statuses = {c.status for c in STATIONS}
    assert len(statuses) >= 2, "the sample should hold more than one status"
    async with connected() as connector:
        records = await connector.get_components([c.id for c in STATIONS])
    assert {r.status for r in records} == {EXPECTED_STATUS[s] for s in statuses}


async def test_batch_fetch_chunks_at_one_hundred_ids() -> None:
    unknown = [f"3708120308{serial:06d}" for serial in range(500, 640)]
    async with connected() as connector:
        before, _ = await request_log(SHARED_APP)
        records = await connector.get_components([*unknown, STATIONS[0].id])
        calls = await requests_since(SHARED_APP, before)
    assert [r.id for r in records] == [STATIONS[0].id]
    assert len(calls) == 2
    assert sorted(len(query_of(c)["codes"].split(",")) for c in calls) == [41, 100]


async def test_no_call_for_ids_of_other_classes() -> None:
    async with connected() as connector:
        before, _ = await request_log(SHARED_APP)
        assert await connector.get_components(["3708110101000001", "bad"]) == []
        assert await requests_since(SHARED_APP, before) == []


@pytest.mark.parametrize("hours", [0, 1, 3, 48])
async def test_hours_option_sets_the_history_length(hours: int) -> None:
    async with connected(hours=hours) as connector:
        before, _ = await request_log(SHARED_APP)
        page = await connector.search_components(ComponentQuery(region_codes=(DISTRICT,)), None, 4)
        calls = await requests_since(SHARED_APP, before)
    assert query_of(calls[0])["hours"] == str(hours)
    for record in page.items:
        assert_matches_inventory(record, hours=hours)


def test_options_are_checked() -> None:
    client = DepartmentClient(BASE_URL)
    with pytest.raises(ValueError):
        EnvironmentConnector(client, hours=500)
    with pytest.raises(ValueError):
        EnvironmentConnector(client, max_page_size=0)
    with pytest.raises(TypeError):
        EnvironmentConnector(client, colour="green")


# --- pagination ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("first", [1, 3, 7, 10, 29, 30, 100])
async def test_walk_a_district_without_gaps_or_duplicates(first: int) -> None:
    expected = stations_where(lambda c: c.region_code == DISTRICT)
    async with connected() as connector:
        records = await walk(connector, ComponentQuery(region_codes=(DISTRICT,)), first)
    assert [r.id for r in records] == expected


@pytest.mark.parametrize("first", [1, 3, 5, 8, 13])
async def test_walk_both_districts_under_a_small_page_cap(first: int) -> None:
    app = create_app(INVENTORY, max_page_size=8)
    async with connected(app, max_page_size=8) as connector:
        records = await walk(connector, ComponentQuery(), first)
    assert [r.id for r in records] == [c.id for c in STATIONS]
    _, calls = await request_log(app)
    assert all(int(query_of(c)["pageSize"]) <= 8 for c in calls)


async def test_resume_after_any_item_with_a_different_first() -> None:
    expected = stations_where(lambda c: c.region_code == DISTRICT)
    query = ComponentQuery(region_codes=(DISTRICT,))
    async with connected() as connector:
        page = await connector.search_components(query, None, 7)
        for i, position in enumerate(page.positions):
            for first in (1, 4, 11):
                resumed = await connector.search_components(query, position, first)
                assert [r.id for r in resumed.items] == expected[i + 1: i + 1 + first]
                assert resumed.total == len(expected)


async def test_misaligned_window_beyond_the_cap_takes_two_concurrent_pages() -> None:
    app = create_app(INVENTORY, max_page_size=8)
    query = ComponentQuery()
    async with connected(app, max_page_size=8) as connector:
        first_page = await connector.search_components(query, None, 5)
        before, _ = await request_log(app)
        page = await connector.search_components(query, first_page.positions[-1], 8)
        calls = await requests_since(app, before)
    assert [r.id for r in page.items] == [c.id for c in STATIONS[5:13]]
    pages = sorted((query_of(c)["pageIndex"], query_of(c)["pageSize"]) for c in calls)
    assert pages == [("1", "8"), ("2", "8")]


async def test_first_above_the_cap_returns_a_capped_page() -> None:
    app = create_app(INVENTORY, max_page_size=8)
    async with connected(app, max_page_size=8) as connector:
        page = await connector.search_components(ComponentQuery(), None, 50)
    assert [r.id for r in page.items] == [c.id for c in STATIONS[:8]]
    assert page.has_more and page.total == len(STATIONS)


async def test_first_zero_reports_the_total_only() -> None:
    async with connected() as connector:
        page = await connector.search_components(ComponentQuery(region_codes=(DISTRICT,)), None, 0)
    assert page.items == [] and page.total == len(stations_where(lambda c: c.region_code == DISTRICT))
    assert page.has_more


async def test_bad_resume_position_is_a_user_error() -> None:
    async with connected() as connector:
        with pytest.raises(UserInputError):
            await connector.search_components(ComponentQuery(), "cursor-from-elsewhere", 5)


# --- filters pushed down ------------------------------------------------------------------------------------
async def search_logged(query: ComponentQuery) -> tuple[list[str], int, dict[str, str]]:
    async with connected() as connector:
        before, _ = await request_log(SHARED_APP)
        records = await walk(connector, query, 100)
        calls = await requests_since(SHARED_APP, before)
        total = (await connector.search_components(query, None, 1)).total
    assert calls and all(c["path"] == f"{SERVICE}/GetStations" for c in calls)
    return [r.id for r in records], total, query_of(calls[0])


async def test_region_and_class_filters_are_pushed_down() -> None:
    ids, total, sent = await search_logged(ComponentQuery(region_codes=("370812",), class_codes=("0308",)))
    assert ids == stations_where(lambda c: c.region_code == "370812") and total == len(ids)
    assert sent["regionCodes"] == "370812" and sent["classCodes"] == "0308"
    ids, total, sent = await search_logged(ComponentQuery(class_codes=("0101", "0113")))
    assert ids == [] and total == 0 and sent["classCodes"] == "0101,0113"


async def test_connector_regions_apply_when_the_query_has_none() -> None:
    _, _, sent = await search_logged(ComponentQuery())
    assert sent["regionCodes"] == "370811,370812"


async def test_grid_filter_is_pushed_down() -> None:
    grid = STATIONS[3].grid_code
    ids, total, sent = await search_logged(ComponentQuery(grid_code=grid))
    assert ids == stations_where(lambda c: c.grid_code == grid) and total == len(ids) >= 1
    assert sent["gridCode"] == grid


@pytest.mark.parametrize("statuses", [
    (ComponentStatus.INTACT,),
    (ComponentStatus.DAMAGED, ComponentStatus.MISSING, ComponentStatus.OCCUPIED, ComponentStatus.RETIRED),
    (ComponentStatus.MISSING,),
])
async def test_status_filter_is_pushed_down_in_the_department_vocabulary(
    statuses: tuple[ComponentStatus, ...],
) -> None:
    ids, total, sent = await search_logged(ComponentQuery(statuses=statuses))
    wanted = {s.value for s in statuses}
    assert ids == stations_where(lambda c: c.status in wanted) and total == len(ids)
    words = {"INTACT": {"正常"}, "DAMAGED": {"故障"}, "MISSING": {"停运", "丢失"}, "OCCUPIED": {"占用"},
             "RETIRED": {"撤销"}}
    assert set(sent["statusList"].split(",")) == set().union(*(words[s] for s in wanted))


async def test_bbox_filter_is_pushed_down() -> None:
    box = BBox(116.52, 35.38, 116.60, 35.45)
    ids, total, sent = await search_logged(ComponentQuery(bbox=box))
    assert ids == stations_where(lambda c: box.contains(c.lng, c.lat)) and total == len(ids) >= 1
    assert [float(v) for v in sent["bbox"].split(",")] == [116.52, 35.38, 116.60, 35.45]


async def test_near_filter_is_pushed_down() -> None:
    centre = STATIONS[5]
    near = Near(centre.lng + 0.01, centre.lat - 0.005, 4000.0)
    ids, total, sent = await search_logged(ComponentQuery(near=near))
    expected = stations_where(lambda c: distance_m(near.lng, near.lat, c.lng, c.lat) <= near.radius_m)
    assert ids == expected and total == len(ids) and centre.id in ids
    assert [float(v) for v in sent["near"].split(",")] == [near.lng, near.lat, near.radius_m]


async def test_all_filters_together() -> None:
    box = BBox(116.0, 35.0, 117.0, 36.0)
    query = ComponentQuery(region_codes=(DISTRICT,), class_codes=("0308",),
                           statuses=(ComponentStatus.INTACT,), bbox=box, near=Near(116.58, 35.42, 9000.0))
    ids, _, sent = await search_logged(query)
    assert {"regionCodes", "classCodes", "statusList", "bbox", "near"} <= set(sent)
    assert ids == stations_where(lambda c: c.region_code == DISTRICT and c.status == "INTACT"
                                 and distance_m(116.58, 35.42, c.lng, c.lat) <= 9000.0)


async def test_an_empty_filter_list_matches_nothing_without_a_call() -> None:
    async with connected() as connector:
        before, _ = await request_log(SHARED_APP)
        page = await connector.search_components(ComponentQuery(statuses=()), None, 10)
        assert await requests_since(SHARED_APP, before) == []
    assert page.items == [] and page.total == 0 and not page.has_more


# --- faults and health --------------------------------------------------------------------------------------
async def set_faults(app: MockControl, faults: dict[str, Any]) -> None:
    async with plain_client(app) as client:
        assert (await client.post("/_mock/faults", json=faults)).status_code == 200


async def test_faults_become_upstream_errors_and_reset() -> None:
    app = create_app(INVENTORY)
    async with connected(app) as connector:
        await connector.check_health()
        await set_faults(app, {"down": True})
        with pytest.raises(UpstreamUnavailable):
            await connector.search_components(ComponentQuery(), None, 5)
        with pytest.raises(UpstreamUnavailable):
            await connector.get_components([STATIONS[0].id])
        with pytest.raises(UpstreamUnavailable):
            await connector.check_health()
        await set_faults(app, {"malformed": True})
        with pytest.raises(UpstreamBadResponse):
            await connector.search_components(ComponentQuery(), None, 5)
        with pytest.raises(UpstreamBadResponse):
            await connector.get_components([STATIONS[0].id])
        with pytest.raises(UpstreamBadResponse):
            await connector.check_health()
        await set_faults(app, {})
        await connector.check_health()
        assert len((await connector.search_components(ComponentQuery(), None, 5)).items) == 5


async def test_a_parameter_the_service_rejects_is_reported_unavailable() -> None:
    # ASMX answers a bad parameter with HTTP 500 + SOAP fault, which the shared client maps to unavailable.
    async with connected() as connector:
        with pytest.raises(UpstreamUnavailable):
            await connector.search_components(ComponentQuery(grid_code="12345"), None, 5)


# --- the dialect itself -------------------------------------------------------------------------------------
async def test_ping_answers_ok_in_xml() -> None:
    async with plain_client() as client:
        response = await client.get(f"{SERVICE}/Ping")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "{http://tempuri.org/}string" and root.text == "OK"


async def test_get_stations_speaks_the_legacy_dialect() -> None:
    async with plain_client() as client:
        response = await client.get(f"{SERVICE}/GetStations", params={
            "regionCodes": DISTRICT, "gridCode": "", "statusList": "", "bbox": "", "near": "",
            "pageIndex": "2", "pageSize": "4", "hours": "2"})
    assert response.status_code == 200 and response.headers["content-type"] == "text/xml; charset=utf-8"
    ns = {"t": "http://tempuri.org/"}
    root = ElementTree.fromstring(response.content)
    in_district = stations_where(lambda c: c.region_code == DISTRICT)
    assert root.findtext("t:Total", namespaces=ns) == str(len(in_district))
    assert root.findtext("t:PageIndex", namespaces=ns) == "2"
    stations = root.findall("t:Stations/t:Station", ns)
    truth = [c for c in STATIONS if c.region_code == DISTRICT][4:8]
    assert [s.findtext("t:StationCode", namespaces=ns) for s in stations] == [c.id for c in truth]
    first, component = stations[0], truth[0]
    assert first.findtext("t:UpdateTime", namespaces=ns) == component.updated_at.strftime("%Y/%m/%d %H:%M:%S")
    assert first.findtext("t:Longitude", namespaces=ns) == f"{component.lng:.7f}"
    assert len(first.findall("t:HourlyData/t:Hour", ns)) == 2


@pytest.mark.parametrize("params", [
    {"pageSize": "0"}, {"pageSize": "201"}, {"pageIndex": "abc"}, {"pageIndex": "0"}, {"hours": "169"},
    {"statusList": "完好"}, {"bbox": "116,35,117"}, {"bbox": "117,35,116,36"}, {"near": "116.5,35.4,-1"},
    {"gridCode": "3708"}, {"regionCodes": "3708"}, {"classCodes": "308"},
])
async def test_bad_parameters_get_a_soap_fault(params: dict[str, str]) -> None:
    async with plain_client() as client:
        response = await client.get(f"{SERVICE}/GetStations", params=params)
    assert response.status_code == 500 and response.headers["content-type"].startswith("text/xml")
    fault = ElementTree.fromstring(response.content).find(".//{http://schemas.xmlsoap.org/soap/envelope/}Fault")
    assert fault is not None and "Exception" in (fault.findtext("faultstring") or "")


async def test_batch_endpoint_rejects_too_many_or_malformed_codes() -> None:
    async with plain_client() as client:
        too_many = ",".join(f"3708110308{n:06d}" for n in range(1, 102))
        url = f"{SERVICE}/GetStationsByCodes"
        assert (await client.get(url, params={"codes": too_many})).status_code == 500
        assert (await client.get(url, params={"codes": "12,34"})).status_code == 500
        empty = await client.get(url, params={"codes": ""})
    assert empty.status_code == 200
    assert ElementTree.fromstring(empty.content).findtext("{*}Total") == "0"


# --- tolerance of what a legacy system sends --------------------------------------------------------------
HAND_MADE_STATION = """<?xml version="1.0" encoding="utf-8"?>
<StationResult xmlns="http://tempuri.org/"><Total>1</Total><Stations><Station>
<StationCode>3708120308000009</StationCode><StationName>测试站</StationName><TypeCode>0308</TypeCode>
<RegionCode>370812</RegionCode><GridCode>370812001010001</GridCode><Longitude>116.8</Longitude>
<Latitude>35.55</Latitude><Status>{status}</Status><Authority>济宁市生态环境局</Authority>
<OwnerName>-</OwnerName><OwnerUSCC/><MaintainerName>某运维公司</MaintainerName><MaintainerUSCC>-</MaintainerUSCC>
<UpdateTime>2026/10/01 08:00:00</UpdateTime><DataTime>-</DataTime>
<AQI>-</AQI><PM25></PM25><PM10>88</PM10><SO2 /><NO2>--</NO2><CO>0.9</CO>
<HourlyData><Hour Time="2026/10/01 07:00:00"><AQI>60</AQI><PM25>-</PM25></Hour>
<Hour Time="2026/10/01 08:00:00"><AQI>-</AQI></Hour></HourlyData>
</Station></Stations></StationResult>"""


def hand_made_connector(body: str) -> EnvironmentConnector:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=body))
    return EnvironmentConnector(DepartmentClient(BASE_URL, transport=transport))


async def test_missing_values_become_none() -> None:
    connector = hand_made_connector(HAND_MADE_STATION.format(status="丢失"))
    [record] = await connector.get_components(["3708120308000009"])
    assert record.status is ComponentStatus.MISSING
    assert record.owner is None
    assert record.maintainer is not None and record.maintainer.credit_code is None
    assert record.updated_at.isoformat() == "2026-10-01T08:00:00+08:00"
    keys = ("aqi", "pm25", "pm10", "so2", "no2", "o3", "co", "reading_at")
    assert {k: record.attributes[k] for k in keys} == {
        "aqi": None, "pm25": None, "pm10": 88.0, "so2": None, "no2": None, "o3": None, "co": 0.9,
        "reading_at": None,
    }
    hourly = record.attributes["hourly"]
    assert [h["at"].hour for h in hourly] == [8, 7]  # newest first whatever the service's order
    assert hourly[1]["aqi"] == 60.0 and hourly[1]["pm25"] is None and hourly[0]["aqi"] is None


@pytest.mark.parametrize("body", [
    HAND_MADE_STATION.format(status="维修中"),
    HAND_MADE_STATION.format(status="正常").replace("<StationCode>3708120308000009</StationCode>", ""),
    HAND_MADE_STATION.format(status="正常").replace("2026/10/01 08:00:00", "01.10.2026"),
    HAND_MADE_STATION.format(status="正常").replace(">116.8<", ">东经<"),
    '<?xml version="1.0"?><Unexpected xmlns="http://tempuri.org/" />',
])
async def test_answers_outside_the_dialect_are_bad_responses(body: str) -> None:
    connector = hand_made_connector(body)
    with pytest.raises(UpstreamBadResponse):
        await connector.get_components(["3708120308000009"])
    with pytest.raises(UpstreamBadResponse):
        await connector.search_components(ComponentQuery(), None, 5)
