"""The environment department: its legacy XML mock and EnvironmentConnector, proved against the inventory."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.client import DepartmentClient
from connectors.environment import EnvironmentConnector
from connectors.records import BBox, ComponentQuery, ComponentRecord, ComponentStatus, Near, Organization
from gateway.exceptions import UserInputError
from mocks.city import (
    DEPARTMENT_NAMES,
    air_quality,
    attributes,
    distance_m,
    organizations,
    primary_pollutants,
    reading_time,
)
from mocks.environment import create_app
from tests.environment_fixtures import (
    BASE_URL,
    DISTRICT,
    EXPECTED_STATUS,
    INVENTORY,
    SERVICE,
    SHARED_APP,
    STATIONS,
    UTC_PLUS_8,
    connected,
    query_of,
    request_log,
    requests_since,
    stations_where,
    walk,
)


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
