"""The independent computation of the 数字城管 evaluation statistics and the clients, shared by the stats tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.citymgmt import CityManagementConnector
from connectors.client import DepartmentClient
from connectors.records import AlertLevel, EventStatus
from connectors.statistics import RegionStats
from mocks.city import Inventory, anchor_from_date
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
