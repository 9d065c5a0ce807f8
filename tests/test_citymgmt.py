"""The 数字城管 department: its case/alarm data, its pinyin-JSON mock and CityManagementConnector, proved against
the ground truth (the generated cases, and alerts recomputed here from the inventory's readings)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from functools import partial
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from connectors.citymgmt import MAX_PAGE_SIZE, CityManagementConnector, plan_pages
from connectors.citymgmt_dialect import CANONICAL_UNITS, METRIC_BY_NAME, UNIT_FACTORS
from connectors.client import DepartmentClient
from connectors.records import (
    AlertLevel,
    AlertQuery,
    AlertRecord,
    BBox,
    EventKind,
    EventQuery,
    EventRecord,
    EventSource,
    EventStatus,
    Near,
    SearchPage,
)
from gateway.exceptions import UpstreamBadResponse, UpstreamUnavailable, UserInputError
from mocks.city import (
    DEPARTMENT_NAMES,
    DEPARTMENT_OF_CLASS,
    DISTRICTS,
    BaseComponent,
    Inventory,
    anchor_from_date,
    aqi_forecast,
    attributes,
    distance_m,
    reading_time,
)
from mocks.citymgmt import DIALECT_UNITS, METRIC_NAMES, create_app
from mocks.citymgmt_data import Alert, Case, generate_alerts, generate_cases
from mocks.control import MockControl
from schema.codes import load_catalogue
from schema.thresholds import load_thresholds
from tests.departments import control_client, department_client

BASE_URL = "http://citymgmt"
DISTRICT = "370811"
UTC_PLUS_8 = timedelta(hours=8)
INVENTORY = Inventory(scale=0.05, anchor=anchor_from_date(date(2026, 11, 1)))
# A larger city for the alert tests: enough monitoring points for every metric and several levels.
ALERT_INVENTORY = Inventory(scale=1.0, anchor=anchor_from_date(date(2026, 11, 1)))
CASES = generate_cases(INVENTORY)
ALERTS = generate_alerts(ALERT_INVENTORY)
SHARED_APP = create_app(INVENTORY)
ALERT_APP = create_app(ALERT_INVENTORY)
PHONE = re.compile(r"1[3-9]\d{9}")
T = TypeVar("T")


@asynccontextmanager
async def connected(app: MockControl = SHARED_APP) -> AsyncIterator[CityManagementConnector]:
    connector = CityManagementConnector(department_client(app))
    try:
        yield connector
    finally:
        await connector.aclose()


@asynccontextmanager
async def plain_client(app: MockControl = SHARED_APP) -> AsyncIterator[httpx.AsyncClient]:
    async with control_client(app) as client:
        yield client


async def logged_calls(app: MockControl, action: Callable[[], Awaitable[T]]) -> tuple[T, list[dict[str, Any]]]:
    """The action's result and the department requests it made."""
    async with plain_client(app) as client:
        before = (await client.get("/_mock/requests")).json()["total"]
        result = await action()
        log = (await client.get("/_mock/requests", params={"since": before})).json()
    return result, list(log["requests"])


def query_of(entry: dict[str, Any]) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(entry["query"]).items()}


async def walk(fetch: Callable[[str | None, int], Awaitable[SearchPage[T]]], first: int) -> list[T]:
    """All matches page by page, checking totals, positions and has_more on the way."""
    out: list[T] = []
    after: str | None = None
    total: int | None = None
    for _ in range(2000):
        page = await fetch(after, first)
        total = page.total if total is None else total
        assert page.total == total
        assert len(page.items) == len(page.positions) <= first
        out.extend(page.items)
        assert page.has_more == (len(out) < total)
        if not page.has_more:
            assert len(out) == total
            return out
        assert page.items, "has_more with an empty page would never end"
        after = page.positions[-1]
    raise AssertionError("pagination did not end")


def case_ids(predicate: Callable[[Case], bool]) -> list[str]:
    return [case.id for case in CASES if predicate(case)]


def local(moment: datetime) -> str:
    return moment.astimezone(timezone(UTC_PLUS_8)).strftime("%Y-%m-%d %H:%M:%S")


# --- the generated data ----------------------------------------------------------------------------------------
def test_case_volume_kinds_and_ids() -> None:
    per_district = Counter(case.region_code for case in CASES)
    assert per_district == {code: round(3000 * INVENTORY.scale) for code in DISTRICTS}
    kinds = Counter(case.kind for case in CASES)
    assert 0.5 < kinds["COMPONENT"] / len(CASES) < 0.7
    ids = [case.id for case in CASES]
    assert ids == sorted(set(ids)), "ascending and unique"
    for case in CASES:
        assert len(case.id) == 13 and case.id.isdigit()
        assert case.id[:8] == f"{case.reported_at:%Y%m%d}"
    assert generate_cases(INVENTORY) == CASES, "deterministic"


def test_component_cases_follow_their_component() -> None:
    component_cases = [case for case in CASES if case.kind == "COMPONENT"]
    for case in component_cases:
        assert case.component_id is not None
        component = INVENTORY.get(case.component_id)
        assert component is not None
        assert case.class_code == component.class_code
        assert (case.region_code, case.grid_code) == (component.region_code, component.grid_code)
        assert DISTRICTS[case.region_code].grid_code(case.lng, case.lat) == case.grid_code
        assert distance_m(case.lng, case.lat, component.lng, component.lat) < 10
        assert case.handling_department == DEPARTMENT_NAMES[DEPARTMENT_OF_CLASS[component.class_code]]
        assert case.address.startswith(DISTRICTS[case.region_code].name + component.road)
    assert {case.source for case in component_cases} == {"INSPECTOR", "PUBLIC_REPORT", "HOTLINE_12345", "SENSOR"}


def test_event_cases_use_the_event_catalogue() -> None:
    event_classes = load_catalogue().events
    event_cases = [case for case in CASES if case.kind == "EVENT"]
    for case in event_cases:
        assert case.component_id is None and case.source != "SENSOR"
        assert case.class_code in event_classes
        district = DISTRICTS[case.region_code]
        assert district.contains(case.lng, case.lat) and district.grid_code(case.lng, case.lat) == case.grid_code
        assert case.address.startswith(district.name)
        assert not case.handling_department.startswith("济宁市")
        assert "街道" in case.handling_department or case.handling_department.startswith(district.name)


def test_workflow_times_and_statuses() -> None:
    anchor = INVENTORY.anchor
    statuses = Counter(case.status for case in CASES)
    assert statuses["CLOSED"] / len(CASES) > 0.6, "most cases are closed"
    assert set(statuses) <= {status.value for status in EventStatus}
    for case in CASES:
        assert anchor - timedelta(days=90) <= case.reported_at < anchor
        if case.status == "PENDING_ACCEPTANCE":
            assert case.deadline is None
        else:
            assert case.deadline is not None
            limit = case.deadline - case.reported_at
            if case.urgent:
                assert limit == timedelta(hours=2)
            else:
                assert timedelta(days=1) <= limit <= timedelta(days=5)
        if case.status == "CLOSED":
            assert case.closed_at is not None and case.reported_at <= case.closed_at <= anchor
        else:
            assert case.closed_at is None
    overdue = sum(case.overdue for case in CASES)
    assert 0 < overdue < statuses["CLOSED"] / 2


def test_reporters_only_for_public_reports_and_hotline() -> None:
    for case in CASES:
        if case.source in ("PUBLIC_REPORT", "HOTLINE_12345"):
            assert case.reporter_name and 2 <= len(case.reporter_name) <= 3
            assert case.reporter_phone and PHONE.fullmatch(case.reporter_phone)
        else:
            assert case.reporter_name is None and case.reporter_phone is None


# The cited thresholds (schema/thresholds.toml), restated here so the generator is checked against an independent
# reading: GB 50974/GB 55036 (hydrant mains ≥ 0.14 MPa, ≥ 0.10 MPa in a fire), GB 5749-2022 (turbidity ≤ 1 NTU,
# pH 6.5–8.5, free chlorine 出厂 0.3–2 mg/L, 末梢 ≥ 0.05 mg/L), GB 51222/GB 50014 (a lane's ponding ≤ 15 cm), and
# 重污染天气预警 from the forecast daily-mean AQI (domain.md §5).
def heavy_pollution_level(days: list[float]) -> tuple[str, float] | None:
    runs: list[list[float]] = []
    current: list[float] = []
    for aqi in [*days, 0.0]:
        if aqi > 200:
            current.append(aqi)
        elif current:
            runs.append(current)
            current = []
    if any(d >= 500 for d in days):
        return "RED", 500.0
    for level, length, severe in (("RED", 4, 2), ("ORANGE", 3, 1)):
        if any(len(run) >= length and sum(a > 300 for a in run) >= severe for run in runs):
            return level, 300.0
    longest = max((len(run) for run in runs), default=0)
    return ("YELLOW", 200.0) if longest >= 2 else ("BLUE", 200.0) if longest == 1 else None


def expected_alerts(inventory: Inventory) -> set[tuple[str, str, float, str, float]]:
    """(component id, metric, value, level, threshold) of every reading beyond a threshold."""
    out: set[tuple[str, str, float, str, float]] = set()

    def check(metric: str, value: float, broken: list[tuple[bool, float, str]]) -> None:
        hits = [(limit, level) for is_broken, limit, level in broken if is_broken]
        if hits:
            limit, level = min(hits, key=lambda hit: ("RED", "ORANGE", "YELLOW", "BLUE").index(hit[1]))
            out.add((component.id, metric, value, level, limit))

    component: BaseComponent
    for component in inventory.by_id.values():
        readings = attributes(component, inventory.anchor)
        code = component.class_code
        if code in ("0113", "2141"):
            p = readings["pressure_mpa"]
            check("pressure", p, [(p < 0.14, 0.14, "ORANGE"), (p < 0.10, 0.10, "RED")])
        elif code == "2142":
            t, ph, cl = readings["turbidity_ntu"], readings["ph"], readings["residual_chlorine_mgl"]
            check("turbidity", t, [(t > 1.0, 1.0, "YELLOW")])
            check("ph", ph, [(ph < 6.5, 6.5, "YELLOW"), (ph > 8.5, 8.5, "YELLOW")])
            if readings["sampling_point"] == "出厂":
                check("residual_chlorine", cl, [(cl < 0.3, 0.3, "YELLOW"), (cl > 2.0, 2.0, "YELLOW")])
            else:
                check("residual_chlorine", cl, [(cl < 0.05, 0.05, "YELLOW")])
        elif code == "2143":
            d = readings["ponding_depth_cm"]
            check("ponding_depth", d, [(d > 15.0, 15.0, "YELLOW")])
        elif code == "0602":
            # GB 12523-2011: 昼间 06:00–22:00 local time, 70 dB(A); 夜间 55 dB(A).
            n, hour = readings["noise_db"], readings["reading_at"].astimezone(timezone(UTC_PLUS_8)).hour
            limit = 70.0 if 6 <= hour < 22 else 55.0
            check("noise", n, [(n > limit, limit, "YELLOW")])
        elif code == "0308":
            forecast = aqi_forecast(component.seed)
            warning = heavy_pollution_level(forecast)
            if warning is not None:
                out.add((component.id, "aqi", max(forecast), warning[0], warning[1]))
    return out


UNITS = {"pressure": "MPa", "turbidity": "NTU", "ph": "pH", "residual_chlorine": "mg/L", "ponding_depth": "cm",
         "aqi": "AQI", "noise": "dB(A)"}


def test_alerts_follow_the_readings() -> None:
    assert {(a.component_id, a.metric, a.value, a.level, a.threshold) for a in ALERTS} == \
        expected_alerts(ALERT_INVENTORY)
    assert {a.metric for a in ALERTS} == set(UNITS), "every metric is represented"
    assert len({a.level for a in ALERTS}) == 4
    assert [a.id for a in ALERTS] == sorted({a.id for a in ALERTS})
    for alert in ALERTS:
        component = ALERT_INVENTORY.by_id[alert.component_id]
        assert alert.unit == UNITS[alert.metric]
        assert alert.raised_at == reading_time(component, ALERT_INVENTORY.anchor)
        assert alert.department_id == DEPARTMENT_OF_CLASS[component.class_code]
        assert alert.region_code == component.region_code


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


# --- alerts -----------------------------------------------------------------------------------------------------
def assert_alert_record(record: AlertRecord, truth: Alert) -> None:
    assert (record.id, record.component_id, record.metric) == (truth.id, truth.component_id, truth.metric)
    assert record.value == pytest.approx(truth.value, abs=1e-9)
    assert record.threshold == pytest.approx(truth.threshold, abs=1e-9)
    assert record.unit == UNITS[truth.metric]
    assert record.level is AlertLevel(truth.level)
    assert record.raised_at == truth.raised_at and record.raised_at.utcoffset() == UTC_PLUS_8
    assert (record.department_id, record.region_code) == (truth.department_id, truth.region_code)


@pytest.mark.parametrize("first", [1, 4, 9, 50, 600])
async def test_walk_alerts_maps_every_field(first: int) -> None:
    async with connected(ALERT_APP) as connector:
        records = await walk(lambda after, n: connector.search_alerts(AlertQuery(), after, n), first)
    assert len(records) == len(ALERTS)
    for record, truth in zip(records, ALERTS, strict=True):
        assert_alert_record(record, truth)
    pressure = next(r for r in records if r.metric == "pressure")
    expected = attributes(ALERT_INVENTORY.by_id[pressure.component_id], ALERT_INVENTORY.anchor)["pressure_mpa"]
    assert pressure.value == pytest.approx(expected, abs=1e-9)


SOME_ALERT_COMPONENTS = tuple(sorted({a.component_id for a in ALERTS})[::7])
ALERT_TIME = sorted(a.raised_at for a in ALERTS)[len(ALERTS) // 3]
ALERT_FILTERS: dict[str, tuple[AlertQuery, dict[str, str], Callable[[Alert], bool]]] = {
    "regions": (AlertQuery(region_codes=("370812",)), {"sqbm": "370812"}, lambda a: a.region_code == "370812"),
    "components": (AlertQuery(component_ids=SOME_ALERT_COMPONENTS), {"bjbsm": ",".join(SOME_ALERT_COMPONENTS)},
                   lambda a: a.component_id in SOME_ALERT_COMPONENTS),
    "levels": (AlertQuery(levels=(AlertLevel.RED, AlertLevel.ORANGE)), {"bjjb": "一级,二级"},
               lambda a: a.level in ("RED", "ORANGE")),
    "metrics": (AlertQuery(metrics=("pressure", "ph", "noise", "water_temperature")),
                {"jczb": "管网压力,pH值,施工噪声"}, lambda a: a.metric in ("pressure", "ph", "noise")),
    "raised": (AlertQuery(raised_from=ALERT_TIME, raised_to=ALERT_TIME + timedelta(minutes=20)),
               {"bjsjq": local(ALERT_TIME), "bjsjz": local(ALERT_TIME + timedelta(minutes=20))},
               lambda a: ALERT_TIME <= a.raised_at <= ALERT_TIME + timedelta(minutes=20)),
}


@pytest.mark.parametrize("name", sorted(ALERT_FILTERS))
async def test_each_alert_filter_is_pushed_down(name: str) -> None:
    query, sent, predicate = ALERT_FILTERS[name]
    expected = [alert.id for alert in ALERTS if predicate(alert)]
    assert 0 < len(expected) < len(ALERTS)
    async with connected(ALERT_APP) as connector:
        records, calls = await logged_calls(
            ALERT_APP, lambda: walk(lambda after, n: connector.search_alerts(query, after, n), 15))
    assert [record.id for record in records] == expected
    for call in calls:
        assert call["path"] == "/api/alarms"
        params = query_of(call)
        assert {key: params.get(key) for key in sent} == sent


# --- the dialect on the wire ------------------------------------------------------------------------------------
async def test_dialect_rows_look_like_the_department() -> None:
    async with plain_client(ALERT_APP) as client:
        cases = (await client.get("/api/cases", params={"pageSize": 50})).json()
        alarms = (await client.get("/api/alarms", params={"jczb": "管网压力,PM10", "pageSize": 50})).json()
    assert cases["success"] is True and cases["total"] == len(generate_cases(ALERT_INVENTORY))
    for row in cases["rows"]:
        assert row["ajlx"] in ("部件", "事件") and row["dlbm"] == row["xlbm"][:2]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["sbsj"])
        assert (row["bjbsm"] == "") is (row["ajlx"] == "事件")
    truth = {alert.id: alert for alert in ALERTS}
    for row in alarms["rows"]:
        alert = truth[row["bjid"]]
        if alert.metric == "pressure":
            assert row["dw"] == "kPa" and row["jcz"] == pytest.approx(alert.value * 1000)
        else:
            assert row["dw"] == "μg/m3" and row["jcz"] == pytest.approx(alert.value)


@pytest.mark.parametrize(("path", "params"), [
    ("/api/cases", {"pageSize": "0"}),
    ("/api/cases", {"pageSize": str(MAX_PAGE_SIZE + 1)}),
    ("/api/cases", {"pageNo": "first"}),
    ("/api/cases", {"ajzt": "已完成"}),
    ("/api/cases", {"wtly": "微信"}),
    ("/api/cases", {"sqbm": "3708"}),
    ("/api/cases", {"wgbm": "370811"}),
    ("/api/cases", {"xlbm": "01"}),
    ("/api/cases", {"bjxlbm": "01"}),
    ("/api/cases", {"sjxlbm": "0102,x"}),
    ("/api/cases", {"ajlx": "案件"}),
    ("/api/cases", {"bjbsm": "123"}),
    ("/api/cases", {"sbsjq": "2026-10-01T08:00:00+08:00"}),
    ("/api/cases", {"bbox": "116.5,35.4,116.6"}),
    ("/api/cases", {"bbox": "116.6,35.4,116.5,35.5"}),
    ("/api/cases", {"near": "116.5,35.4,0"}),
    ("/api/cases/batch", {}),
    ("/api/cases/batch", {"ajbh": ",".join(f"20261001{n:05d}" for n in range(101))}),
    ("/api/cases/batch", {"ajbh": "A1"}),
    ("/api/alarms", {"bjjb": "红色"}),
    ("/api/alarms", {"jczb": "pressure"}),
    ("/api/alarms", {"bjsjz": "yesterday"}),
])
async def test_bad_parameters_get_the_department_error(path: str, params: dict[str, str]) -> None:
    async with plain_client() as client:
        response = await client.get(path, params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["code"] == 400 and body["msg"]


async def test_openapi_document_describes_the_real_responses() -> None:
    async with plain_client() as client:
        document = orjson.loads((await client.get("/openapi.json")).content)
        case_row = (await client.get("/api/cases", params={"pageSize": 1})).json()["rows"][0]
        batch = (await client.get("/api/cases/batch", params={"ajbh": case_row["ajbh"]})).json()
    async with plain_client(ALERT_APP) as client:
        alarm_row = (await client.get("/api/alarms", params={"pageSize": 1})).json()["rows"][0]
        heartbeat = (await client.get("/api/heartbeat")).json()
    assert document["openapi"].startswith("3.0")
    assert set(document["paths"]) == {"/api/cases", "/api/cases/batch", "/api/alarms", "/api/stats", "/api/heartbeat"}
    schemas = document["components"]["schemas"]
    for name, row in (("Case", case_row), ("Alarm", alarm_row), ("Heartbeat", heartbeat)):
        assert set(schemas[name]["properties"]) == set(schemas[name]["required"]) == set(row), name
    assert batch["rows"] == [case_row]
    case_params = {p["name"] for p in document["paths"]["/api/cases"]["get"]["parameters"]}
    assert case_params == {"sqbm", "wgbm", "xlbm", "ajlx", "bjxlbm", "sjxlbm", "ajzt", "wtly", "bjbsm", "sbsjq",
                           "sbsjz", "bbox", "near", "pageNo", "pageSize"}
    alarm_params = {p["name"] for p in document["paths"]["/api/alarms"]["get"]["parameters"]}
    assert alarm_params == {"sqbm", "bjbsm", "bjjb", "jczb", "bjsjq", "bjsjz", "pageNo", "pageSize"}
    enums = {key: set(spec["enum"]) for key, spec in schemas["Case"]["properties"].items() if "enum" in spec}
    for key, allowed in enums.items():
        assert case_row[key] in allowed
    assert alarm_row["jczb"] in schemas["Alarm"]["properties"]["jczb"]["enum"]


# --- health and faults ------------------------------------------------------------------------------------------
async def test_health() -> None:
    async with connected() as connector:
        result, calls = await logged_calls(SHARED_APP, connector.check_health)
    assert result is None
    assert [(call["method"], call["path"]) for call in calls] == [("GET", "/api/heartbeat")]


@pytest.mark.parametrize(("body", "error"), [
    ({"success": True, "status": "DOWN"}, UpstreamUnavailable),
    ({"success": False, "status": "UP"}, UpstreamUnavailable),
    ({"success": True}, UpstreamBadResponse),
    (["UP"], UpstreamBadResponse),
])
async def test_heartbeat_not_up_is_an_upstream_error(body: Any, error: type[Exception]) -> None:
    """The healthy answer above passes only because it says UP: each other answer is refused."""
    connector = scripted(body)
    with pytest.raises(error):
        await connector.check_health()
    await connector.aclose()


FAULT_APP = create_app(INVENTORY)
OPERATIONS: dict[str, Callable[[CityManagementConnector], Awaitable[Any]]] = {
    "search_events": lambda c: c.search_events(EventQuery(), None, 5),
    "search_alerts": lambda c: c.search_alerts(AlertQuery(), None, 5),
    "get_events": lambda c: c.get_events([CASES[0].id]),
    "check_health": lambda c: c.check_health(),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_faults_become_upstream_errors(operation: str) -> None:
    run = OPERATIONS[operation]
    async with connected(FAULT_APP) as connector, plain_client(FAULT_APP) as control:
        try:
            await control.post("/_mock/faults", json={"down": True})
            with pytest.raises(UpstreamUnavailable):
                await run(connector)
            await control.post("/_mock/faults", json={"malformed": True})
            with pytest.raises(UpstreamBadResponse):
                await run(connector)
        finally:
            await control.post("/_mock/faults", json={})
        await run(connector)


def scripted(body: Any, status: int = 200) -> CityManagementConnector:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=orjson.dumps(body)))
    return CityManagementConnector(DepartmentClient(BASE_URL, transport=transport))


GOOD_ROW = {"ajbh": "2026100100001", "ajlx": "事件", "dlbm": "05", "xlbm": "0505", "wtly": "监督员上报",
            "ajzt": "结案", "wtms": "x", "dz": "任城区", "zbx": 116.6, "zby": 35.4, "sqbm": "370811",
            "wgbm": "370811001010001", "bjbsm": "", "zrbm": "x", "sbsj": "2026-10-01 08:00:00",
            "clsx": "2026-10-02 08:00:00", "jasj": None, "sbr": "", "lxdh": ""}


@pytest.mark.parametrize("body", [
    {"success": False, "code": 500, "msg": "数据库连接失败"},
    {"success": True, "total": "1", "rows": [GOOD_ROW]},
    {"success": True, "total": 1, "rows": [{**GOOD_ROW, "ajzt": "已办结"}]},
    {"success": True, "total": 1, "rows": [{**GOOD_ROW, "sbsj": "2026/10/01"}]},
    {"success": True, "total": 1, "rows": [{**GOOD_ROW, "zbx": "116.6"}]},
    {"success": True, "total": 1, "rows": [{k: v for k, v in GOOD_ROW.items() if k != "ajlx"}]},
    [GOOD_ROW],
])
async def test_answers_off_the_dialect_are_bad_responses(body: Any) -> None:
    connector = scripted(body)
    with pytest.raises(UpstreamBadResponse):
        await connector.search_events(EventQuery(), None, 5)
    await connector.aclose()


async def test_scripted_good_row_and_unhealthy_heartbeat() -> None:
    connector = scripted({"success": True, "total": 1, "rows": [GOOD_ROW]})
    page = await connector.search_events(EventQuery(), None, 5)
    assert page.items[0].reported_at == datetime(2026, 10, 1, 8, tzinfo=timezone(UTC_PLUS_8))
    assert page.items[0].component_id is None and page.items[0].closed_at is None
    await connector.aclose()
    down = scripted({"success": False, "status": "DOWN"})
    with pytest.raises(UpstreamUnavailable):
        await down.check_health()
    await down.aclose()


def test_connector_declares_what_it_serves() -> None:
    assert CityManagementConnector.department_id == "citymgmt"
    assert CityManagementConnector.serves_events and CityManagementConnector.serves_alerts
    assert not CityManagementConnector.component_classes


# --- the alarm vocabulary covers the thresholds -----------------------------------------------------------------
def test_every_threshold_metric_is_in_the_alarm_vocabulary() -> None:
    """A metric schema/thresholds.toml alarms on but the feed cannot name would be dropped without a word."""
    thresholds = load_thresholds()
    covered = {rule.metric: rule.unit for rule in thresholds.rules}
    covered[thresholds.heavy_pollution.metric] = thresholds.heavy_pollution.unit
    assert set(covered) <= set(METRIC_NAMES) and set(covered) <= set(METRIC_BY_NAME.values())
    for metric, unit in covered.items():
        assert CANONICAL_UNITS[metric] == unit, metric
        assert DIALECT_UNITS[unit][0] in {dialect for dialect, canonical in UNIT_FACTORS if canonical == unit}


async def test_a_methane_filter_sends_every_word_the_department_uses() -> None:
    async with connected(ALERT_APP) as connector:
        page, calls = await logged_calls(ALERT_APP, lambda: connector.search_alerts(
            AlertQuery(metrics=("methane",)), None, 10))
    assert query_of(calls[0])["jczb"] == "甲烷浓度,可燃气体浓度"
    assert [record.metric for record in page.items] == []  # no methane readings in the city inventory yet


@pytest.mark.parametrize(("name", "value", "unit", "metric", "expected_unit", "expected"), [
    ("施工噪声", 72.5, "dB(A)", "noise", "dB(A)", 72.5),
    ("施工噪声", 58.0, "dBA", "noise", "dB(A)", 58.0),
    ("甲烷浓度", 30.0, "%LEL", "methane", "%LEL", 30.0),
    ("可燃气体浓度", 1.5, "%VOL", "methane", "%LEL", 30.0),  # 100 %LEL = 5 %VOL
    ("可燃气体浓度", 15000, "ppm", "methane", "%LEL", 30.0),  # 100 %LEL = 50,000 ppm
])
async def test_noise_and_methane_alarms_are_read_in_canonical_units(name: str, value: float, unit: str,
                                                                    metric: str, expected_unit: str,
                                                                    expected: float) -> None:
    row = {"bjid": "BJ20261031000001", "bjbsm": "3708110111000001", "jczb": name, "jcz": value, "dw": unit,
           "yz": value, "bjjb": "三级", "bjsj": "2026-10-31 23:10:00", "ssbm": "housing", "sqbm": "370811"}
    connector = scripted({"success": True, "total": 1, "rows": [row]})
    record = (await connector.search_alerts(AlertQuery(), None, 5)).items[0]
    await connector.aclose()
    assert (record.metric, record.unit) == (metric, expected_unit)
    assert record.value == pytest.approx(expected) and record.threshold == pytest.approx(expected)


async def test_noise_in_unweighted_decibels_is_a_bad_response() -> None:
    row = {"bjid": "BJ20261031000001", "bjbsm": "3708110602000001", "jczb": "施工噪声", "jcz": 60.0, "dw": "dB",
           "yz": 55.0, "bjjb": "三级", "bjsj": "2026-10-31 23:10:00", "ssbm": "housing", "sqbm": "370811"}
    connector = scripted({"success": True, "total": 1, "rows": [row]})
    with pytest.raises(UpstreamBadResponse):
        await connector.search_alerts(AlertQuery(), None, 5)
    await connector.aclose()
