"""The 数字城管 dialect on the wire, health and faults, and CityManagementConnector's answers to them."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import orjson
import pytest

from connectors.citymgmt import (
    MAX_PAGE_SIZE,
    CityManagementConnector,
)
from connectors.records import (
    AlertQuery,
    EventQuery,
)
from gateway.exceptions import UpstreamBadResponse, UpstreamUnavailable
from mocks.citymgmt import create_app
from mocks.citymgmt_data import generate_cases
from tests.citymgmt_fixtures import (
    ALERT_APP,
    ALERT_INVENTORY,
    ALERTS,
    CASES,
    INVENTORY,
    SHARED_APP,
    UTC_PLUS_8,
    connected,
    logged_calls,
    plain_client,
    scripted,
)


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
