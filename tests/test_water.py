"""The 供水排水 mock department and its connector, checked against the inventory's ground truth."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from connectors.catalogue import ATTRIBUTE_FIELDS, TYPE_BY_CLASS
from connectors.records import BBox, ComponentQuery, ComponentRecord, ComponentStatus, Near, Organization
from connectors.water import MAX_PAGE_SIZE, WaterConnector, plan_window
from gateway.exceptions import UserInputError
from mocks.city import (
    DEPARTMENT_NAMES,
    DISTRICTS,
    BaseComponent,
    attributes,
    distance_m,
    organizations,
)
from mocks.datums import gcj02_from_wgs84
from tests.water_fixtures import (
    COORDINATE_TOLERANCE_DEG,
    INVENTORY,
    STATE_OF,
    fixture_raw,  # noqa: F401 (the pytest fixture raw)
    fixture_water,  # noqa: F401 (the pytest fixture water)
    log_position,
    query_of,
    requests_since,
    sample_of_every_class,
    walk,
    water_rows,
)


# --- record mapping -----------------------------------------------------------------------------------------
def expected_attributes(component: BaseComponent) -> dict[str, Any]:
    truth = attributes(component, INVENTORY.anchor)
    names = ATTRIBUTE_FIELDS[TYPE_BY_CLASS[component.class_code]]
    if component.class_code == "2142":  # where the sample was taken decides its chlorine limits (GB 5749-2022)
        names = (*names, "sampling_point")
    return {name: truth[name] for name in names}


def assert_matches_truth(record: ComponentRecord, truth: BaseComponent) -> None:
    owner, maintainer = organizations("water", truth)
    assert record.id == truth.id
    assert record.class_code == truth.class_code
    assert record.name == truth.name
    assert record.status is ComponentStatus(truth.status)
    assert record.region_code == truth.region_code
    assert record.grid_code == truth.grid_code
    assert abs(record.lng - truth.lng) < COORDINATE_TOLERANCE_DEG
    assert abs(record.lat - truth.lat) < COORDINATE_TOLERANCE_DEG
    assert record.department_id == "water"
    assert record.department_name == DEPARTMENT_NAMES["water"]
    assert record.owner is not None and record.maintainer is not None
    assert record.owner == Organization(owner.name, owner.credit_code)
    assert record.maintainer == Organization(maintainer.name, maintainer.credit_code)
    assert record.updated_at == truth.updated_at
    assert record.updated_at.utcoffset() == timedelta(hours=8)
    expected = expected_attributes(truth)
    assert set(record.attributes) == set(expected)
    for name, value in expected.items():
        if isinstance(value, float):
            assert record.attributes[name] == pytest.approx(value, abs=1e-9), name
            assert isinstance(record.attributes[name], float)
        else:
            assert record.attributes[name] == value, name
            assert type(record.attributes[name]) is type(value), name


async def test_every_field_of_every_class_maps_to_the_ground_truth(water: WaterConnector) -> None:
    sample = sample_of_every_class()
    records = await water.get_components([row.id for row in sample])
    assert [record.id for record in records] == [row.id for row in sample]
    for record, truth in zip(records, sample, strict=True):
        assert_matches_truth(record, truth)
    assert {record.status for record in records} == set(ComponentStatus)


async def test_dialect_speaks_gcj02_kpa_chinese_states_and_naive_local_times(raw: httpx.AsyncClient) -> None:
    hydrant = INVENTORY.buckets[("370811", "0113")][0]
    answer = (await raw.get("/api/v1/facilities/batch", params={"codes": hydrant.id})).json()
    assert (answer["code"], answer["msg"]) == (0, "ok")
    facility = answer["data"]["records"][0]
    expected_gcj = gcj02_from_wgs84(hydrant.lng, hydrant.lat)
    assert facility["gcj_lng"] == pytest.approx(expected_gcj[0], abs=1e-7)
    assert facility["gcj_lat"] == pytest.approx(expected_gcj[1], abs=1e-7)
    assert abs(facility["gcj_lng"] - hydrant.lng) > 1e-3, "GCJ-02 is visibly shifted from WGS-84"
    assert facility["state"] == STATE_OF[hydrant.status]
    truth = attributes(hydrant, INVENTORY.anchor)
    assert float(facility["latest"]["pressure_kpa"]) == pytest.approx(truth["pressure_mpa"] * 1000)
    assert facility["update_time"] == hydrant.updated_at.strftime("%Y-%m-%d %H:%M:%S")
    assert facility["latest"]["reading_time"] == truth["reading_at"].strftime("%Y-%m-%d %H:%M:%S")


async def test_pressure_is_converted_from_kpa_to_mpa(water: WaterConnector) -> None:
    rows = INVENTORY.buckets[("370811", "2141")] + INVENTORY.buckets[("370812", "0113")]
    records = await water.get_components([row.id for row in rows])
    for record, row in zip(records, rows, strict=True):
        truth_mpa = attributes(row, INVENTORY.anchor)["pressure_mpa"]
        assert record.attributes["pressure_mpa"] == pytest.approx(truth_mpa, abs=1e-9)
        assert 0.05 < record.attributes["pressure_mpa"] < 1.0


# --- batch fetch --------------------------------------------------------------------------------------------
async def test_batch_fetch_is_one_department_call(water: WaterConnector) -> None:
    ids = [row.id for row in water_rows(regions=["370812"])[:100]]
    since = await log_position()
    records = await water.get_components(ids)
    calls = await requests_since(since)
    assert [call["path"] for call in calls] == ["/api/v1/facilities/batch"]
    assert query_of(calls[0])["codes"].split(",") == ids
    assert [record.id for record in records] == ids


async def test_batch_fetch_chunks_at_100_and_drops_unknown_ids(water: WaterConnector) -> None:
    ids = [row.id for row in water_rows()[:230]]
    unknown_serial = "370811" + "0101" + "999999"
    other_department = INVENTORY.buckets[("370811", "0201")][0].id
    since = await log_position()
    records = await water.get_components([*ids, unknown_serial, other_department, "not-an-id", ids[0]])
    calls = await requests_since(since)
    assert [len(query_of(call)["codes"].split(",")) for call in calls] == [100, 100, 31]
    assert [record.id for record in records] == ids


async def test_batch_fetch_of_nothing_makes_no_call(water: WaterConnector) -> None:
    since = await log_position()
    assert await water.get_components([]) == []
    assert await water.get_components([INVENTORY.buckets[("370811", "0308")][0].id]) == []
    assert await requests_since(since) == []


# --- pagination ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sizes", [[50], [7], [100], [333], [1000], [3, 17, 64, 1, 250]])
async def test_walking_a_district_has_no_gaps_or_duplicates(water: WaterConnector, sizes: list[int]) -> None:
    query = ComponentQuery(region_codes=("370811",))
    records = await walk(water, query, sizes)
    assert [record.id for record in records] == [row.id for row in water_rows(regions=["370811"])]


async def test_walking_both_districts_matches_the_inventory(water: WaterConnector) -> None:
    records = await walk(water, ComponentQuery(), [120])
    assert [record.id for record in records] == [row.id for row in water_rows()]


async def test_any_position_resumes_right_after_its_item(water: WaterConnector) -> None:
    query = ComponentQuery(region_codes=("370812",))
    truth = [row.id for row in water_rows(regions=["370812"])]
    page = await water.search_components(query, None, 40)
    assert page.total == len(truth)
    assert page.has_more
    for index in (0, 6, 13, 39):
        for first in (1, 9, 25, 101):
            resumed = await water.search_components(query, page.positions[index], first)
            assert [record.id for record in resumed.items] == truth[index + 1: index + 1 + first]
            assert resumed.has_more == (index + 1 + first < len(truth))


async def test_misaligned_window_is_read_in_one_larger_page_or_two_concurrent_pages(
        water: WaterConnector) -> None:
    query = ComponentQuery(region_codes=("370811",))
    truth = [row.id for row in water_rows(regions=["370811"])]
    since = await log_position()
    one_page = await water.search_components(query, "5", 10)
    calls = await requests_since(since)
    assert [record.id for record in one_page.items] == truth[5:15]
    assert len(calls) == 1
    assert 10 < int(query_of(calls[0])["size"]) <= 20

    since = await log_position()
    two_pages = await water.search_components(query, "11", 2)  # no size in 2..4 holds rows 11-12 in one page
    calls = await requests_since(since)
    assert [record.id for record in two_pages.items] == truth[11:13]
    pages = sorted((query_of(call)["page"], query_of(call)["size"]) for call in calls)
    assert pages == [("6", "2"), ("7", "2")]


async def test_first_above_the_department_maximum_is_capped(water: WaterConnector) -> None:
    page = await water.search_components(ComponentQuery(), None, 5000)
    assert len(page.items) == min(MAX_PAGE_SIZE, page.total)
    assert page.has_more == (page.total > MAX_PAGE_SIZE)


async def test_end_of_results_and_past_the_end(water: WaterConnector) -> None:
    query = ComponentQuery(region_codes=("370811",), class_codes=("2142",))
    truth = water_rows(regions=["370811"], class_codes=["2142"])
    page = await water.search_components(query, None, len(truth))
    assert [record.id for record in page.items] == [row.id for row in truth]
    assert not page.has_more
    past = await water.search_components(query, str(len(truth) + 5), 10)
    assert (past.items, past.total, past.has_more) == ([], len(truth), False)


async def test_first_zero_still_counts(water: WaterConnector) -> None:
    page = await water.search_components(ComponentQuery(region_codes=("370812",)), None, 0)
    assert (page.items, page.total, page.has_more) == ([], len(water_rows(regions=["370812"])), True)


async def test_invalid_resume_position_is_a_user_error(water: WaterConnector) -> None:
    with pytest.raises(UserInputError):
        await water.search_components(ComponentQuery(), "cursor:abc", 10)


@pytest.mark.parametrize("offset", [0, 1, 5, 99, 100, 101, 499, 997, 1999, 123_457])
@pytest.mark.parametrize("count", [1, 2, 7, 50, 100, 333, 999, 1000, 1500])
def test_page_plan_covers_exactly_the_window(offset: int, count: int) -> None:
    calls = plan_window(offset, count)
    wanted = min(count, MAX_PAGE_SIZE)
    assert 1 <= len(calls) <= 2
    covered: list[int] = []
    for call in calls:
        assert 1 <= call.size <= MAX_PAGE_SIZE
        start = (call.page - 1) * call.size
        covered.extend(range(start + call.skip, start + call.size))
    assert covered[:wanted] == list(range(offset, offset + wanted))
    assert len(covered) <= 2 * wanted


# --- filters ------------------------------------------------------------------------------------------------
async def test_filters_are_pushed_down_in_the_dialect(water: WaterConnector) -> None:
    grid = INVENTORY.buckets[("370811", "0101")][0].grid_code
    query = ComponentQuery(region_codes=("370811",), class_codes=("0101", "0113", "0201"),
                           statuses=(ComponentStatus.INTACT, ComponentStatus.DAMAGED))
    since = await log_position()
    records = await walk(water, query, [40])
    sent = query_of((await requests_since(since))[0])
    assert sent["district_codes"] == "370811"
    assert sent["type_codes"] == "0101,0113"
    assert sent["state"] == "完好,破损"
    expected = water_rows(regions=["370811"], class_codes=["0101", "0113"], statuses=["INTACT", "DAMAGED"])
    assert [record.id for record in records] == [row.id for row in expected]

    by_grid = await walk(water, ComponentQuery(region_codes=("370811",), grid_code=grid), [5])
    assert [record.id for record in by_grid] == [row.id for row in water_rows(grid_code=grid)]
    assert all(record.grid_code == grid for record in by_grid)


async def test_bbox_is_sent_in_gcj02_and_selects_like_wgs84(water: WaterConnector) -> None:
    district = DISTRICTS["370811"]
    west, south = district.min_lng, district.min_lat
    box = BBox(west + 0.03, south + 0.02, west + 0.09, south + 0.07)
    since = await log_position()
    records = await walk(water, ComponentQuery(region_codes=("370811",), bbox=box), [30])
    sent_bbox = query_of((await requests_since(since))[0])["bbox"]
    sent = [float(part) for part in sent_bbox.split(",")]
    assert sent[:2] == pytest.approx(list(gcj02_from_wgs84(box.min_lng, box.min_lat)), abs=1e-9)
    assert sent[2:] == pytest.approx(list(gcj02_from_wgs84(box.max_lng, box.max_lat)), abs=1e-9)
    expected = [row for row in water_rows(regions=["370811"]) if box.contains(row.lng, row.lat)]
    assert expected, "the box should hold some facilities"
    assert [record.id for record in records] == [row.id for row in expected]


async def test_near_is_sent_in_gcj02_with_radius_in_metres(water: WaterConnector) -> None:
    centre = INVENTORY.buckets[("370812", "0103")][4]
    near = Near(centre.lng, centre.lat, 1500.0)
    since = await log_position()
    records = await walk(water, ComponentQuery(region_codes=("370812",), near=near), [25])
    sent = query_of((await requests_since(since))[0])
    sent_centre = tuple(float(part) for part in sent["center"].split(","))
    assert sent_centre == pytest.approx(gcj02_from_wgs84(centre.lng, centre.lat), abs=1e-9)
    assert float(sent["radius"]) == 1500.0
    expected = [row for row in water_rows(regions=["370812"])
                if distance_m(centre.lng, centre.lat, row.lng, row.lat) <= 1500.0]
    assert centre.id in {record.id for record in records}
    assert [record.id for record in records] == [row.id for row in expected]


async def test_query_outside_the_department_makes_no_call(water: WaterConnector) -> None:
    since = await log_position()
    for query in (ComponentQuery(class_codes=("0201", "0308")), ComponentQuery(region_codes=()),
                  ComponentQuery(statuses=())):
        page = await water.search_components(query, None, 10)
        assert (page.items, page.total, page.has_more) == ([], 0, False)
    assert await requests_since(since) == []


async def test_default_regions_are_pushed_down(water: WaterConnector) -> None:
    since = await log_position()
    await water.search_components(ComponentQuery(), None, 3)
    assert query_of((await requests_since(since))[0])["district_codes"] == "370811,370812"
