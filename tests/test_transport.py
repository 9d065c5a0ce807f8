"""The transport department: its mock dialect and the connector that translates it, against the inventory."""

from __future__ import annotations

import base64

import pytest

from connectors.records import BBox, ComponentQuery, ComponentStatus, Near
from connectors.transport import TransportConnector
from gateway.exceptions import UserInputError
from mocks.city import DISTRICTS
from mocks.datums import bd09_from_wgs84
from tests.transport_fixtures import (
    CONDITION_OF,
    INVENTORY,
    RENCHENG,
    Department,
    _some_component,
    assert_maps,
    expected_ids,
    fixture_dept,  # noqa: F401 (the pytest fixture dept)
    fixture_small_pages,  # noqa: F401 (the pytest fixture small_pages)
    query_of,
    transport_components,
    walk,
)


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
