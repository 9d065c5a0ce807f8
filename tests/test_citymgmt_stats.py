"""Evaluation statistics (综合评价, domain.md §4) of the 数字城管 department: its ``/api/stats`` endpoint and
``CityManagementConnector.region_stats`` against an independent computation from the generated cases and alerts.

The definitions are restated here on purpose (not imported from ``mocks.citymgmt_stats``), so a slip in the mock's
counting shows up as a mismatch:
- cases REPORTED in [start, end] (inclusive) inside the region; alerts RAISED in [start, end] inside the region;
- 应处置 = status in {DISPATCHED, IN_PROGRESS, VERIFYING, CLOSED, SUPERVISED}; 已处置 = status VERIFYING or CLOSED;
  按期处置 = 已处置 and handled_at <= deadline; 应结案 = 应处置 plus REGISTERED; 结案 = CLOSED;
  按期结案 = CLOSED and closed_at <= deadline; 返工 = 应结案 with rework_count >= 1; 延期 = 应处置 and extended;
  handling hours = sum over CLOSED of closed_at - reported_at;
- cases by class are keyed by (kind, 小类): the 部件 and 事件 catalogues reuse numbers (0102 污水井盖 / 暴露垃圾).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from connectors.base import Connector
from connectors.citymgmt import CityManagementConnector
from connectors.client import DepartmentClient
from connectors.records import AlertLevel, EventKind, EventStatus
from connectors.statistics import RegionStats, common_region, merge_region_stats
from gateway.exceptions import UpstreamBadResponse, UpstreamUnavailable
from mocks.city import DISTRICTS, Inventory, anchor_from_date
from mocks.citymgmt import create_app
from mocks.citymgmt_data import generate_alerts, generate_cases
from mocks.control import MockControl

BASE_URL = "http://citymgmt"
CHINA = timezone(timedelta(hours=8))
INVENTORY = Inventory(scale=1.0, anchor=anchor_from_date(date(2026, 11, 1)))
ANCHOR = INVENTORY.anchor
CASES = generate_cases(INVENTORY)
ALERTS = generate_alerts(INVENTORY)
APP = create_app(INVENTORY)
T = TypeVar("T")

TO_HANDLE = {"DISPATCHED", "IN_PROGRESS", "VERIFYING", "CLOSED", "SUPERVISED"}
HANDLED = {"VERIFYING", "CLOSED"}
TO_CLOSE = TO_HANDLE | {"REGISTERED"}
# The department's words, restated.
STATUS_WORDS = {"待受理": "PENDING_ACCEPTANCE", "立案未移交": "REGISTERED", "立案派遣": "DISPATCHED",
                "处理中": "IN_PROGRESS", "核查结案": "VERIFYING", "结案": "CLOSED", "作废": "VOIDED",
                "缓办": "POSTPONED", "督查": "SUPERVISED"}
KIND_WORDS = {"部件": "COMPONENT", "事件": "EVENT"}
LEVEL_WORDS = {"一级": "RED", "二级": "ORANGE", "三级": "YELLOW", "四级": "BLUE"}
COUNT_KEYS = {"ajzs": "cases_total", "yczs": "to_handle", "czs": "handled", "aqczs": "handled_on_time",
              "yjas": "to_close", "jas": "closed", "aqjas": "closed_on_time", "fgs": "reworked", "yqs": "extended"}


def inside(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or moment >= start) and (end is None or moment <= end)


def expected(region: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """The counts of a 6-digit region (a district, or a city/province/country by its trailing zeros)."""
    prefix = region
    while prefix.endswith("00"):
        prefix = prefix[:-2]
    cases = [c for c in CASES if c.region_code.startswith(prefix) and inside(c.reported_at, start, end)]
    alerts = [a for a in ALERTS if a.region_code.startswith(prefix) and inside(a.raised_at, start, end)]
    closed = [c for c in cases if c.status == "CLOSED"]
    handled = [c for c in cases if c.status in HANDLED]
    return {
        "region_code": region,
        "cases_total": len(cases),
        "to_handle": sum(c.status in TO_HANDLE for c in cases),
        "handled": len(handled),
        "handled_on_time": sum(c.handled_at is not None and c.deadline is not None and c.handled_at <= c.deadline
                               for c in handled),
        "to_close": sum(c.status in TO_CLOSE for c in cases),
        "closed": len(closed),
        "closed_on_time": sum(c.closed_at is not None and c.deadline is not None and c.closed_at <= c.deadline
                              for c in closed),
        "reworked": sum(c.status in TO_CLOSE and c.rework_count > 0 for c in cases),
        "extended": sum(c.status in TO_HANDLE and c.extended for c in cases),
        "hours": sum((c.closed_at - c.reported_at).total_seconds() for c in closed if c.closed_at) / 3600,
        "by_class": dict(Counter((c.kind, c.class_code) for c in cases)),
        "by_status": dict(Counter(c.status for c in cases)),
        "alerts_by_level": dict(Counter(a.level for a in alerts)),
    }


def from_record(stats: RegionStats) -> dict[str, Any]:
    """A RegionStats in the shape of ``expected`` (zero entries dropped)."""
    assert set(stats.by_status) == set(EventStatus) and set(stats.alerts_by_level) == set(AlertLevel)
    return {
        "region_code": stats.region_code,
        **{name: getattr(stats, name) for name in COUNT_KEYS.values()},
        "hours": stats.handling_hours_sum,
        "by_class": {(kind.value, code): n for (kind, code), n in stats.by_class.items() if n},
        "by_status": {status.value: n for status, n in stats.by_status.items() if n},
        "alerts_by_level": {level.value: n for level, n in stats.alerts_by_level.items() if n},
    }


def from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A department row in the shape of ``expected``."""
    return {
        "region_code": row["sqbm"],
        **{name: row[key] for key, name in COUNT_KEYS.items()},
        "hours": row["czsc"],
        "by_class": {(KIND_WORDS[entry["ajlx"]], entry["xlbm"]): entry["sl"] for entry in row["ajlb"]},
        "by_status": {STATUS_WORDS[entry["ajzt"]]: entry["sl"] for entry in row["ajzt"]},
        "alerts_by_level": {LEVEL_WORDS[entry["bjjb"]]: entry["sl"] for entry in row["bjjb"]},
    }


def assert_same(actual: dict[str, Any], truth: dict[str, Any]) -> None:
    assert actual["hours"] == pytest.approx(truth["hours"], abs=1e-4)
    assert {k: v for k, v in actual.items() if k != "hours"} == {k: v for k, v in truth.items() if k != "hours"}


def local(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


# Windows: (start, end); both present for the connector, which always sends both.
EDGE_A, EDGE_B = CASES[1000], CASES[1400]
LAST_ALERT = max(alert.raised_at for alert in ALERTS)
WINDOWS: dict[str, tuple[datetime, datetime]] = {
    "all": (ANCHOR - timedelta(days=400), ANCHOR),
    "last week": (ANCHOR - timedelta(days=7), ANCHOR),
    "last hour": (ANCHOR - timedelta(hours=1), ANCHOR),
    "a month ago": (ANCHOR - timedelta(days=60), ANCHOR - timedelta(days=30)),
    "exact case bounds": (EDGE_A.reported_at, EDGE_B.reported_at),
    "up to the last alert": (LAST_ALERT - timedelta(minutes=20), LAST_ALERT),
    "nothing (2020)": (datetime(2020, 1, 1, tzinfo=CHINA), datetime(2020, 12, 31, 23, 59, 59, tzinfo=CHINA)),
}
REGION_SETS = [("370811",), ("370812",), ("370811", "370812")]


@asynccontextmanager
async def plain_client(app: MockControl = APP) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        yield client


@asynccontextmanager
async def connected(app: MockControl = APP) -> AsyncIterator[CityManagementConnector]:
    connector = CityManagementConnector(DepartmentClient(BASE_URL, transport=httpx.ASGITransport(app=app)))
    try:
        yield connector
    finally:
        await connector.aclose()


async def logged_calls(action: Callable[[], Awaitable[T]]) -> tuple[T, list[dict[str, str]]]:
    """The action's result and the query parameters of the department requests it made (path under '_path')."""
    async with plain_client() as client:
        before = (await client.get("/_mock/requests")).json()["total"]
        result = await action()
        log = (await client.get("/_mock/requests", params={"since": before})).json()
    return result, [{"_path": entry["path"], **{k: v[0] for k, v in parse_qs(entry["query"]).items()}}
                    for entry in log["requests"]]


# --- the data carries what the indicators need ------------------------------------------------------------------
def test_workflow_fields_are_consistent() -> None:
    for case in CASES:
        if case.status in HANDLED:
            assert case.handled_at is not None and case.deadline is not None
            assert case.reported_at <= case.handled_at <= (case.closed_at or ANCHOR)
        else:
            assert case.handled_at is None
        if case.rework_count:
            assert case.status in ("IN_PROGRESS", "VERIFYING", "CLOSED") and 1 <= case.rework_count <= 3
        if case.extended:
            assert case.status not in ("PENDING_ACCEPTANCE", "REGISTERED", "VOIDED")
    assert generate_cases(INVENTORY) == CASES, "deterministic"


def test_rework_extension_and_lateness_are_present() -> None:
    reached = [c for c in CASES if c.status in ("IN_PROGRESS", "VERIFYING", "CLOSED")]
    reworked = [c for c in reached if c.rework_count]
    assert 0.02 < len(reworked) / len(reached) < 0.08, "about 5% of handled cases are reworked"
    assert {c.rework_count for c in reworked} == {1, 2, 3}
    assert {c.status for c in reworked} >= {"CLOSED", "IN_PROGRESS"}
    assert 0 < sum(c.extended for c in CASES) < len(CASES) * 0.06
    handled = [c for c in CASES if c.status in HANDLED]
    late_handled = {c.id for c in handled if c.handled_at and c.deadline and c.handled_at > c.deadline}
    late_closed = {c.id for c in CASES if c.overdue}
    assert late_handled and late_closed and late_handled != late_closed
    assert any(c.status == "VERIFYING" for c in handled if c.id in late_handled)


async def test_case_rows_carry_the_workflow_fields() -> None:
    truth = {case.id: case for case in CASES}
    seen = 0
    async with plain_client() as client:
        for page in range(1, len(CASES) // 500 + 2):
            body = (await client.get("/api/cases", params={"pageNo": page, "pageSize": 500})).json()
            for row in body["rows"]:
                case = truth[row["ajbh"]]
                assert row["fgcs"] == case.rework_count
                assert row["sfyq"] == int(case.extended)
                if case.handled_at is None:
                    assert row["czwcsj"] is None
                else:
                    assert row["czwcsj"] == local(case.handled_at)
                seen += 1
    assert seen == len(CASES)


# --- the endpoint -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("window", sorted(WINDOWS))
@pytest.mark.parametrize("regions", REGION_SETS)
async def test_endpoint_matches_the_independent_computation(window: str, regions: tuple[str, ...]) -> None:
    start, end = WINDOWS[window]
    async with plain_client() as client:
        body = (await client.get("/api/stats", params={
            "sqbm": ",".join(reversed(regions)), "sbsjq": local(start), "sbsjz": local(end)})).json()
    assert body["success"] is True and body["total"] == len(regions)
    assert [row["sqbm"] for row in body["rows"]] == sorted(regions)
    for row in body["rows"]:
        assert_same(from_row(row), expected(row["sqbm"], start, end))


async def test_endpoint_without_parameters_covers_every_district_and_all_time() -> None:
    async with plain_client() as client:
        body = (await client.get("/api/stats")).json()
    assert [row["sqbm"] for row in body["rows"]] == sorted(DISTRICTS)
    for row in body["rows"]:
        truth = expected(row["sqbm"], None, None)
        assert_same(from_row(row), truth)
        assert truth["cases_total"] == sum(c.region_code == row["sqbm"] for c in CASES)
        # the indicators are not degenerate: each count differs from the one it is a share of
        assert 0 < truth["handled_on_time"] < truth["handled"] < truth["to_handle"] < truth["to_close"]
        assert 0 < truth["closed_on_time"] < truth["closed"] < truth["to_close"]
        assert truth["reworked"] > 0 and truth["extended"] > 0
        assert len(truth["alerts_by_level"]) >= 3
        # both kinds of a shared code occur, so adding them up would show
        assert truth["by_class"][("COMPONENT", "0102")] and truth["by_class"][("EVENT", "0102")]


async def test_window_bounds_are_inclusive() -> None:
    start, end = WINDOWS["exact case bounds"]
    truth = expected(EDGE_A.region_code, start, end)
    shorter = expected(EDGE_A.region_code, start + timedelta(seconds=1), end)
    assert truth["cases_total"] == shorter["cases_total"] + 1, "the case reported at the start is counted"
    async with plain_client() as client:
        row = (await client.get("/api/stats", params={
            "sqbm": EDGE_A.region_code, "sbsjq": local(start), "sbsjz": local(end)})).json()["rows"][0]
    assert row["ajzs"] == truth["cases_total"]


async def test_window_excluding_everything_gives_zero_rows_not_holes() -> None:
    start, end = WINDOWS["nothing (2020)"]
    async with plain_client() as client:
        body = (await client.get("/api/stats", params={
            "sqbm": "370811,370812,370899", "sbsjq": local(start), "sbsjz": local(end)})).json()
    assert [row["sqbm"] for row in body["rows"]] == ["370811", "370812", "370899"]
    for row in body["rows"]:
        assert all(row[key] == 0 for key in COUNT_KEYS) and row["czsc"] == 0
        assert row["ajlb"] == row["ajzt"] == row["bjjb"] == []


@pytest.mark.parametrize("params", [
    {"sqbm": "3708"}, {"sqbm": "370811,abc"}, {"sbsjq": "2026-10-01"}, {"sbsjz": "2026-10-01T00:00:00+08:00"},
])
async def test_bad_stats_parameters_get_the_department_error(params: dict[str, str]) -> None:
    async with plain_client() as client:
        response = await client.get("/api/stats", params=params)
    assert response.status_code == 400
    assert response.json()["success"] is False


async def test_openapi_documents_the_stats_endpoint() -> None:
    async with plain_client() as client:
        document = orjson.loads((await client.get("/openapi.json")).content)
        row = (await client.get("/api/stats", params={"sqbm": "370811"})).json()["rows"][0]
        case_row = (await client.get("/api/cases", params={"pageSize": 1})).json()["rows"][0]
    operation = document["paths"]["/api/stats"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"sqbm", "sbsjq", "sbsjz"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/StatsPage")
    schemas = document["components"]["schemas"]
    stats_row = schemas["StatsRow"]
    assert set(stats_row["properties"]) == set(stats_row["required"]) == set(row)
    for key, item_keys in (("ajlb", {"ajlx", "xlbm"}), ("ajzt", {"ajzt"}), ("bjjb", {"bjjb"})):
        items = stats_row["properties"][key]["items"]
        assert set(items["required"]) == {*item_keys, "sl"}
        for entry in row[key]:
            assert set(entry) == {*item_keys, "sl"}
            for item_key in item_keys:
                allowed = items["properties"][item_key].get("enum")
                assert allowed is None or entry[item_key] in allowed
    assert {"czwcsj", "fgcs", "sfyq"} <= set(schemas["Case"]["required"]) & set(case_row)


# --- the connector ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("window", sorted(WINDOWS))
@pytest.mark.parametrize("regions", REGION_SETS)
async def test_connector_matches_and_pushes_the_filters_down(window: str, regions: tuple[str, ...]) -> None:
    start, end = WINDOWS[window]
    async with connected() as connector:
        stats, calls = await logged_calls(lambda: connector.region_stats(list(regions), start, end))
    assert [s.region_code for s in stats] == sorted(regions)
    for item in stats:
        assert_same(from_record(item), expected(item.region_code, start, end))
    assert calls == [{"_path": "/api/stats", "sqbm": ",".join(sorted(regions)),
                      "sbsjq": local(start), "sbsjz": local(end)}]


async def test_parent_regions_are_sums_of_districts() -> None:
    start, end = WINDOWS["last week"]
    async with connected() as connector:
        districts = await connector.region_stats(["370812", "370811"], start, end)
    city = merge_region_stats(districts)
    assert city.region_code == "370800"
    assert_same(from_record(city), expected("370800", start, end))
    province = merge_region_stats(districts, "370000")
    assert_same(from_record(province), expected("370000", start, end))
    truth = expected("370800", start, end)
    assert city.closed_on_time_rate == pytest.approx(truth["closed_on_time"] / truth["to_close"])
    assert city.rework_rate == pytest.approx(truth["reworked"] / truth["to_close"])
    assert city.handling_rate == pytest.approx(truth["handled"] / truth["to_handle"])
    assert city.handled_on_time_rate == pytest.approx(truth["handled_on_time"] / truth["to_handle"])
    assert city.closing_rate == pytest.approx(truth["closed"] / truth["to_close"])
    assert city.extension_rate == pytest.approx(truth["extended"] / truth["to_handle"])
    assert city.average_handling_hours == pytest.approx(truth["hours"] / truth["closed"])
    assert city.alerts_total == sum(truth["alerts_by_level"].values())


async def test_time_bounds_are_rounded_inwards() -> None:
    start = EDGE_A.reported_at - timedelta(microseconds=400_000)
    end = EDGE_B.reported_at + timedelta(microseconds=999_999)
    async with connected() as connector:
        stats, calls = await logged_calls(lambda: connector.region_stats(["370811", "370812"], start, end))
    assert calls[0]["sbsjq"] == local(EDGE_A.reported_at) and calls[0]["sbsjz"] == local(EDGE_B.reported_at)
    assert sum(s.cases_total for s in stats) == sum(inside(c.reported_at, start, end) for c in CASES)
    async with connected() as connector:
        later = await connector.region_stats(["370811", "370812"], EDGE_A.reported_at + timedelta(microseconds=1),
                                             EDGE_B.reported_at)
    assert sum(s.cases_total for s in later) == sum(s.cases_total for s in stats) - 1


async def test_nothing_asked_means_no_call() -> None:
    async with connected() as connector:
        stats, calls = await logged_calls(lambda: connector.region_stats([], ANCHOR - timedelta(days=1), ANCHOR))
    assert stats == [] and calls == []


def test_empty_stats_and_merging_rules() -> None:
    empty = RegionStats("370811")
    assert empty.by_status == dict.fromkeys(EventStatus, 0) and empty.alerts_by_level == dict.fromkeys(AlertLevel, 0)
    assert empty.closed_on_time_rate is None and empty.average_handling_hours is None
    assert common_region(["370811"]) == "370811"
    assert common_region(["370811", "370812"]) == "370800"
    assert common_region(["370811", "370202"]) == "370000"
    assert common_region(["370811", "110101"]) == "000000"
    with pytest.raises(ValueError):
        merge_region_stats([])
    assert merge_region_stats([], "370800").region_code == "370800"


async def test_the_base_connector_does_not_serve_stats() -> None:
    class Plain(Connector):
        department_id = "plain"
        department_name = "plain"

    connector = Plain(httpx.AsyncClient(base_url=BASE_URL))
    with pytest.raises(NotImplementedError):
        await connector.region_stats(["370811"], ANCHOR, ANCHOR)
    await connector.aclose()


FAULT_APP = create_app(Inventory(scale=0.05, anchor=ANCHOR))


async def test_faults_become_upstream_errors() -> None:
    async with connected(FAULT_APP) as connector, plain_client(FAULT_APP) as control:
        try:
            await control.post("/_mock/faults", json={"down": True})
            with pytest.raises(UpstreamUnavailable):
                await connector.region_stats(["370811"], ANCHOR - timedelta(days=1), ANCHOR)
            await control.post("/_mock/faults", json={"malformed": True})
            with pytest.raises(UpstreamBadResponse):
                await connector.region_stats(["370811"], ANCHOR - timedelta(days=1), ANCHOR)
        finally:
            await control.post("/_mock/faults", json={})
        assert len(await connector.region_stats(["370811"], ANCHOR - timedelta(days=1), ANCHOR)) == 1


GOOD_STATS_ROW = {"sqbm": "370811", "ajzs": 3, "yczs": 2, "czs": 1, "aqczs": 1, "yjas": 2, "jas": 1, "aqjas": 1,
                  "fgs": 0, "yqs": 0, "czsc": 1.5,
                  "ajlb": [{"ajlx": "部件", "xlbm": "0102", "sl": 2}, {"ajlx": "事件", "xlbm": "0102", "sl": 1}],
                  "ajzt": [{"ajzt": "结案", "sl": 1}, {"ajzt": "处理中", "sl": 2}], "bjjb": [{"bjjb": "二级", "sl": 4}]}


def scripted(body: Any) -> CityManagementConnector:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=orjson.dumps(body)))
    return CityManagementConnector(DepartmentClient(BASE_URL, transport=transport))


async def test_scripted_good_row_maps_every_field() -> None:
    connector = scripted({"success": True, "total": 1, "rows": [GOOD_STATS_ROW]})
    [stats] = await connector.region_stats(["370811"], ANCHOR - timedelta(days=1), ANCHOR)
    await connector.aclose()
    assert (stats.region_code, stats.cases_total, stats.to_handle, stats.handled, stats.to_close, stats.closed,
            stats.handling_hours_sum) == ("370811", 3, 2, 1, 2, 1, 1.5)
    assert stats.by_class == {(EventKind.COMPONENT, "0102"): 2, (EventKind.EVENT, "0102"): 1}
    assert stats.by_status[EventStatus.CLOSED] == 1 and stats.by_status[EventStatus.IN_PROGRESS] == 2
    assert sum(stats.by_status.values()) == 3
    assert stats.alerts_by_level == {**dict.fromkeys(AlertLevel, 0), AlertLevel.ORANGE: 4}


@pytest.mark.parametrize("rows", [
    [],  # the asked district is missing: a hole, not zeros
    [{**GOOD_STATS_ROW, "sqbm": "370812"}],
    [{**GOOD_STATS_ROW, "ajzs": "3"}],
    [{**GOOD_STATS_ROW, "jas": True}],
    [{**GOOD_STATS_ROW, "fgs": -1}],
    [{**GOOD_STATS_ROW, "czsc": "1.5"}],
    [{**GOOD_STATS_ROW, "ajzt": [{"ajzt": "已办结", "sl": 1}]}],
    [{**GOOD_STATS_ROW, "bjjb": [{"bjjb": "红色", "sl": 1}]}],
    [{**GOOD_STATS_ROW, "ajlb": [{"ajlx": "部件", "xlbm": "01", "sl": 1}]}],
    # a count without its catalogue cannot be told apart between 0102 污水井盖 and 0102 暴露垃圾
    [{**GOOD_STATS_ROW, "ajlb": [{"xlbm": "0102", "sl": 1}]}],
    [{**GOOD_STATS_ROW, "ajlb": [{"ajlx": "案件", "xlbm": "0102", "sl": 1}]}],
    [{**GOOD_STATS_ROW, "ajlb": {"0101": 3}}],
    [{k: v for k, v in GOOD_STATS_ROW.items() if k != "yqs"}],
])
async def test_stats_off_the_dialect_are_bad_responses(rows: list[dict[str, Any]]) -> None:
    connector = scripted({"success": True, "total": len(rows), "rows": rows})
    with pytest.raises(UpstreamBadResponse):
        await connector.region_stats(["370811"], ANCHOR - timedelta(days=1), ANCHOR)
    await connector.aclose()
