"""The 数字城管 department: its case/alarm data, its pinyin-JSON mock and CityManagementConnector, proved against
the ground truth (the generated cases, and alerts recomputed here from the inventory's readings)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import partial

import pytest

from connectors.citymgmt import (
    MAX_PAGE_SIZE,
    plan_pages,
)
from connectors.records import (
    AlertQuery,
    BBox,
    EventKind,
    EventQuery,
    EventRecord,
    EventSource,
    EventStatus,
    Near,
)
from gateway.exceptions import UserInputError
from mocks.city import (
    distance_m,
)
from mocks.citymgmt_data import Case
from tests.citymgmt_fixtures import (
    CASES,
    DISTRICT,
    SHARED_APP,
    UTC_PLUS_8,
    case_ids,
    connected,
    local,
    logged_calls,
    query_of,
    walk,
)


# --- case mapping -----------------------------------------------------------------------------------------------
def assert_case_record(record: EventRecord, truth: Case) -> None:
    assert record.id == truth.id
    assert record.kind is EventKind(truth.kind)
    assert record.class_code == truth.class_code
    assert record.source is EventSource(truth.source)
    assert record.status is EventStatus(truth.status)
    assert (record.description, record.address) == (truth.description, truth.address)
    assert abs(record.lng - truth.lng) < 1e-6 and abs(record.lat - truth.lat) < 1e-6
    assert (record.region_code, record.grid_code) == (truth.region_code, truth.grid_code)
    assert record.component_id == truth.component_id
    assert record.handling_department == truth.handling_department
    assert record.reported_at == truth.reported_at and record.reported_at.utcoffset() == UTC_PLUS_8
    assert record.deadline == truth.deadline
    assert record.closed_at == truth.closed_at
    for moment in (record.deadline, record.closed_at):
        assert moment is None or moment.utcoffset() == UTC_PLUS_8
    assert (record.reporter_name, record.reporter_phone) == (truth.reporter_name, truth.reporter_phone)


async def test_search_maps_every_case_field() -> None:
    async with connected() as connector:
        records = await walk(lambda after, first: connector.search_events(EventQuery(), after, first), 100)
    assert len(records) == len(CASES)
    for record, truth in zip(records, CASES, strict=True):
        assert_case_record(record, truth)
    assert {record.status for record in records} == {EventStatus(case.status) for case in CASES}
    assert {record.source for record in records} == set(EventSource)
    assert any(r.deadline and r.closed_at and r.closed_at > r.deadline for r in records), "overdue ones"


async def test_batch_fetch_makes_one_call() -> None:
    wanted = [CASES[5], CASES[77], CASES[150], CASES[-1]]
    ids = [case.id for case in reversed(wanted)]
    unknown = ["2099010100001", "not-a-case", "3708110101000001"]
    async with connected() as connector:
        records, calls = await logged_calls(SHARED_APP, lambda: connector.get_events([*ids, *unknown, ids[0]]))
    assert [record.id for record in records] == [case.id for case in wanted]
    for record, truth in zip(records, wanted, strict=True):
        assert_case_record(record, truth)
    assert len(calls) == 1 and calls[0]["path"] == "/api/cases/batch"
    assert query_of(calls[0])["ajbh"].split(",") == sorted({*ids, "2099010100001"})


async def test_batch_fetch_chunks_at_one_hundred() -> None:
    ids = [case.id for case in CASES[:150]]
    async with connected() as connector:
        records, calls = await logged_calls(SHARED_APP, lambda: connector.get_events(ids))
    assert [record.id for record in records] == ids
    assert sorted(len(query_of(call)["ajbh"].split(",")) for call in calls) == [50, 100]


async def test_no_call_without_plausible_ids() -> None:
    async with connected() as connector:
        records, calls = await logged_calls(SHARED_APP, lambda: connector.get_events(["x", "12345"]))
    assert records == [] and calls == []


# --- pagination -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("first", [1, 3, 7, 20, 33, 100, 1000])
async def test_walk_a_district_without_gaps_or_duplicates(first: int) -> None:
    query = EventQuery(region_codes=(DISTRICT,))
    async with connected() as connector:
        records, calls = await logged_calls(
            SHARED_APP, lambda: walk(lambda after, n: connector.search_events(query, after, n), first))
    assert [record.id for record in records] == case_ids(lambda case: case.region_code == DISTRICT)
    pages = -(-len(records) // min(first, MAX_PAGE_SIZE))
    assert pages <= len(calls) <= 2 * pages


@pytest.mark.parametrize(("first", "consumed", "then"), [(20, 5, 13), (7, 7, 30), (33, 1, 2), (10, 9, 64)])
async def test_resume_after_any_item_with_any_first(first: int, consumed: int, then: int) -> None:
    expected = case_ids(lambda case: case.region_code == DISTRICT)
    query = EventQuery(region_codes=(DISTRICT,))
    async with connected() as connector:
        page = await connector.search_events(query, None, first)
        resumed = await connector.search_events(query, page.positions[consumed - 1], then)
        again = await connector.search_events(query, resumed.positions[-1], then)
    assert [r.id for r in page.items] == expected[:first]
    assert [r.id for r in resumed.items] == expected[consumed: consumed + then]
    assert [r.id for r in again.items] == expected[consumed + then: consumed + 2 * then]


async def test_misaligned_window_is_one_call_when_a_page_size_covers_it() -> None:
    expected = case_ids(lambda case: case.region_code == DISTRICT)
    query = EventQuery(region_codes=(DISTRICT,))
    async with connected() as connector:
        page, calls = await logged_calls(SHARED_APP, lambda: connector.search_events(query, "3", 10))
    assert [r.id for r in page.items] == expected[3:13]
    assert len(calls) == 1
    sent = query_of(calls[0])
    size, number = int(sent["pageSize"]), int(sent["pageNo"])
    assert (number - 1) * size <= 3 and number * size >= 13


def test_page_plans_cover_every_window() -> None:
    for count in (1, 2, 3, 7, 20, 99, 250, MAX_PAGE_SIZE):
        for offset in (*range(0, 60), 499, 500, 501, 1234, 99_999):
            plan = plan_pages(offset, count)
            assert count <= plan.size <= min(MAX_PAGE_SIZE, 2 * count)
            assert 1 <= len(plan.pages) <= 2
            assert list(plan.pages) == list(range(plan.pages[0], plan.pages[0] + len(plan.pages)))
            assert plan.start <= offset and offset + count <= plan.start + plan.size * len(plan.pages)


async def test_first_zero_and_positions_past_the_end() -> None:
    total = len(case_ids(lambda case: case.region_code == DISTRICT))
    query = EventQuery(region_codes=(DISTRICT,))
    async with connected() as connector:
        empty = await connector.search_events(query, None, 0)
        end = await connector.search_events(query, str(total), 10)
        beyond = await connector.search_events(query, str(total + 50), 10)
    assert (empty.items, empty.total, empty.has_more) == ([], total, True)
    assert (end.items, end.total, end.has_more) == ([], total, False)
    assert (beyond.items, beyond.has_more) == ([], False)


async def test_bad_resume_position_is_user_input() -> None:
    async with connected() as connector:
        with pytest.raises(UserInputError):
            await connector.search_events(EventQuery(), "page-2", 10)


# --- filters pushed down ----------------------------------------------------------------------------------------
SAMPLE = next(case for case in CASES if case.kind == "COMPONENT" and case.source == "HOTLINE_12345")
BOX = BBox(SAMPLE.lng - 0.02, SAMPLE.lat - 0.02, SAMPLE.lng + 0.03, SAMPLE.lat + 0.01)
CIRCLE = Near(SAMPLE.lng, SAMPLE.lat, 3000.0)
WEEK_START = SAMPLE.reported_at - timedelta(days=3)
WEEK_END = SAMPLE.reported_at + timedelta(days=4)
SOME_COMPONENTS = tuple(sorted({c.component_id for c in CASES if c.component_id})[:6])
EVENT_FILTERS: dict[str, tuple[EventQuery, dict[str, str], Callable[[Case], bool]]] = {
    "regions": (EventQuery(region_codes=("370812",)), {"sqbm": "370812"},
                lambda c: c.region_code == "370812"),
    "grid": (EventQuery(grid_code=SAMPLE.grid_code), {"wgbm": SAMPLE.grid_code},
             lambda c: c.grid_code == SAMPLE.grid_code),
    "classes": (EventQuery(classes=((EventKind.EVENT, "0505"), (EventKind.COMPONENT, "0102"),
                                    (EventKind.COMPONENT, "0101"))),
                {"bjxlbm": "0101,0102", "sjxlbm": "0505"},
                lambda c: (c.kind, c.class_code) in {("COMPONENT", "0101"), ("COMPONENT", "0102"), ("EVENT", "0505")}),
    # 0102 is 污水井盖 as a 部件 and 暴露垃圾 as an 事件: asking for one kind must not bring the other.
    "event class sharing a component code": (
        EventQuery(classes=((EventKind.EVENT, "0102"),)), {"sjxlbm": "0102"},
        lambda c: (c.kind, c.class_code) == ("EVENT", "0102")),
    "component class sharing an event code": (
        EventQuery(classes=((EventKind.COMPONENT, "0102"),)), {"bjxlbm": "0102"},
        lambda c: (c.kind, c.class_code) == ("COMPONENT", "0102")),
    "statuses": (EventQuery(statuses=(EventStatus.IN_PROGRESS, EventStatus.VOIDED)), {"ajzt": "处理中,作废"},
                 lambda c: c.status in ("IN_PROGRESS", "VOIDED")),
    "sources": (EventQuery(sources=(EventSource.HOTLINE_12345, EventSource.SENSOR)), {"wtly": "12345热线,传感器"},
                lambda c: c.source in ("HOTLINE_12345", "SENSOR")),
    "components": (EventQuery(component_ids=SOME_COMPONENTS), {"bjbsm": ",".join(SOME_COMPONENTS)},
                   lambda c: c.component_id in SOME_COMPONENTS),
    "reported": (EventQuery(reported_from=WEEK_START, reported_to=WEEK_END),
                 {"sbsjq": local(WEEK_START), "sbsjz": local(WEEK_END)},
                 lambda c: WEEK_START <= c.reported_at <= WEEK_END),
    "bbox": (EventQuery(bbox=BOX), {"bbox": f"{BOX.min_lng!r},{BOX.min_lat!r},{BOX.max_lng!r},{BOX.max_lat!r}"},
             lambda c: BOX.contains(c.lng, c.lat)),
    "near": (EventQuery(near=CIRCLE), {"near": f"{CIRCLE.lng!r},{CIRCLE.lat!r},{CIRCLE.radius_m!r}"},
             lambda c: distance_m(CIRCLE.lng, CIRCLE.lat, c.lng, c.lat) <= CIRCLE.radius_m),
}


@pytest.mark.parametrize("name", sorted(EVENT_FILTERS))
async def test_each_event_filter_is_pushed_down(name: str) -> None:
    query, sent, predicate = EVENT_FILTERS[name]
    expected = case_ids(predicate)
    assert 0 < len(expected) < len(CASES), "the filter should select some cases, not all"
    async with connected() as connector:
        records, calls = await logged_calls(
            SHARED_APP, lambda: walk(lambda after, n: connector.search_events(query, after, n), 25))
    assert [record.id for record in records] == expected
    for call in calls:
        assert call["path"] == "/api/cases"
        params = query_of(call)
        assert {key: params.get(key) for key in sent} == sent


async def test_all_event_filters_together() -> None:
    query = EventQuery(
        region_codes=(SAMPLE.region_code,), grid_code=SAMPLE.grid_code,
        classes=((EventKind(SAMPLE.kind), SAMPLE.class_code),),
        statuses=(EventStatus(SAMPLE.status),), sources=(EventSource.HOTLINE_12345,),
        component_ids=(SAMPLE.component_id or "",), reported_from=SAMPLE.reported_at,
        reported_to=SAMPLE.reported_at, bbox=BOX, near=CIRCLE,
    )
    async with connected() as connector:
        page, calls = await logged_calls(SHARED_APP, lambda: connector.search_events(query, None, 10))
    assert SAMPLE.id in [record.id for record in page.items]
    assert set(query_of(calls[0])) == {"sqbm", "wgbm", "bjxlbm", "ajzt", "wtly", "bjbsm", "sbsjq", "sbsjz", "bbox",
                                       "near", "pageNo", "pageSize"}


async def test_time_bounds_are_rounded_inwards_and_converted_to_local_time() -> None:
    at = SAMPLE.reported_at
    utc = UTC
    cases = [
        (at.astimezone(utc) - timedelta(microseconds=500_000), at.astimezone(utc) + timedelta(microseconds=1), True),
        (at + timedelta(microseconds=100), at + timedelta(seconds=5), False),
        (at - timedelta(seconds=5), at - timedelta(microseconds=100), False),
    ]
    async with connected() as connector:
        for start, end, included in cases:
            query = EventQuery(reported_from=start, reported_to=end, region_codes=(SAMPLE.region_code,))
            page, calls = await logged_calls(SHARED_APP, partial(connector.search_events, query, None, 50))
            assert (SAMPLE.id in [record.id for record in page.items]) is included
            sent = query_of(calls[0])
            assert datetime.strptime(sent["sbsjq"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone(UTC_PLUS_8)) >= start
            assert datetime.strptime(sent["sbsjz"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone(UTC_PLUS_8)) <= end


async def test_empty_filter_lists_match_nothing_without_a_call() -> None:
    async with connected() as connector:
        page, calls = await logged_calls(SHARED_APP, lambda: connector.search_events(
            EventQuery(region_codes=()), None, 10))
        alerts, alert_calls = await logged_calls(SHARED_APP, lambda: connector.search_alerts(
            AlertQuery(metrics=("water_temperature",)), None, 10))
    assert (page.items, page.total, page.has_more, calls) == ([], 0, False, [])
    assert (alerts.items, alerts.total, alert_calls) == ([], 0, [])
