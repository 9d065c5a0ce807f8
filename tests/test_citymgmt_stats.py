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

from datetime import timedelta

import orjson
import pytest

from mocks.city import DISTRICTS
from mocks.citymgmt_data import generate_cases
from tests.citymgmt_stats_fixtures import (
    ANCHOR,
    CASES,
    COUNT_KEYS,
    EDGE_A,
    HANDLED,
    INVENTORY,
    REGION_SETS,
    WINDOWS,
    assert_same,
    expected,
    from_row,
    local,
    plain_client,
)


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
