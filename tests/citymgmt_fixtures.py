"""The 数字城管 mock department, its generated cases and alerts, and the clients, shared by the citymgmt tests."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
import orjson

from connectors.citymgmt import (
    CityManagementConnector,
)
from connectors.client import DepartmentClient
from connectors.records import (
    SearchPage,
)
from mocks.city import (
    Inventory,
    anchor_from_date,
)
from mocks.citymgmt import create_app
from mocks.citymgmt_data import Case, generate_alerts, generate_cases
from mocks.control import MockControl
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


UNITS = {"pressure": "MPa", "turbidity": "NTU", "ph": "pH", "residual_chlorine": "mg/L", "ponding_depth": "cm",
         "aqi": "AQI", "noise": "dB(A)"}


def scripted(body: Any, status: int = 200) -> CityManagementConnector:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=orjson.dumps(body)))
    return CityManagementConnector(DepartmentClient(BASE_URL, transport=transport))
