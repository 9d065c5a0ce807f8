"""CityManagementConnector.region_stats against the independent computation: filters pushed down, parent
regions summed, faults and answers off the dialect."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from connectors.base import Connector
from connectors.citymgmt import CityManagementConnector
from connectors.client import DepartmentClient
from connectors.records import AlertLevel, EventKind, EventStatus
from connectors.statistics import RegionStats, common_region, merge_region_stats
from gateway.exceptions import UpstreamBadResponse, UpstreamUnavailable
from mocks.city import Inventory
from mocks.citymgmt import create_app
from tests.citymgmt_stats_fixtures import (
    ANCHOR,
    BASE_URL,
    CASES,
    EDGE_A,
    EDGE_B,
    REGION_SETS,
    WINDOWS,
    assert_same,
    connected,
    expected,
    from_record,
    inside,
    local,
    logged_calls,
    plain_client,
)


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
