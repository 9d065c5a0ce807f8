"""The 生态环境 SOAP mock department, its connector and the request log, shared by the environment tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx

from connectors.environment import EnvironmentConnector
from connectors.records import ComponentQuery, ComponentRecord, ComponentStatus
from mocks.city import (
    BaseComponent,
    Inventory,
)
from mocks.control import MockControl
from mocks.environment import create_app
from tests.departments import control_client, department_client

BASE_URL = "http://environment"
SERVICE = "/services/AirQuality.asmx"
DISTRICT = "370811"
UTC_PLUS_8 = timedelta(hours=8)
# 30 stations a district at scale 1: enough rows to page through, still fast to build.
INVENTORY = Inventory(scale=1.0)
STATIONS: list[BaseComponent] = sorted(
    (c for c in INVENTORY.by_id.values() if c.class_code == "0308"), key=lambda c: c.id)
EXPECTED_STATUS = {"INTACT": ComponentStatus.INTACT, "DAMAGED": ComponentStatus.DAMAGED,
                   "MISSING": ComponentStatus.MISSING, "OCCUPIED": ComponentStatus.OCCUPIED,
                   "RETIRED": ComponentStatus.RETIRED}
SHARED_APP = create_app(INVENTORY)


def stations_where(predicate: Callable[[BaseComponent], bool]) -> list[str]:
    return [c.id for c in STATIONS if predicate(c)]


@asynccontextmanager
async def connected(app: MockControl = SHARED_APP, **options: Any) -> AsyncIterator[EnvironmentConnector]:
    connector = EnvironmentConnector(department_client(app), **options)
    try:
        yield connector
    finally:
        await connector.aclose()


@asynccontextmanager
async def plain_client(app: MockControl = SHARED_APP) -> AsyncIterator[httpx.AsyncClient]:
    async with control_client(app) as client:
        yield client


async def request_log(app: MockControl) -> tuple[int, list[dict[str, Any]]]:
    async with plain_client(app) as client:
        log = (await client.get("/_mock/requests")).json()
    return log["total"], log["requests"]


async def requests_since(app: MockControl, seq: int) -> list[dict[str, Any]]:
    async with plain_client(app) as client:
        return list((await client.get("/_mock/requests", params={"since": seq})).json()["requests"])


def query_of(entry: dict[str, Any]) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(entry["query"]).items()}


async def walk(connector: EnvironmentConnector, query: ComponentQuery, first: int) -> list[ComponentRecord]:
    """All matches, page by page, checking totals and has_more on the way."""
    expected_total: int | None = None
    out: list[ComponentRecord] = []
    after: str | None = None
    for _ in range(1000):
        page = await connector.search_components(query, after, first)
        expected_total = page.total if expected_total is None else expected_total
        assert page.total == expected_total
        assert len(page.items) == len(page.positions) <= first
        out.extend(page.items)
        assert page.has_more == (len(out) < page.total)
        if not page.has_more:
            return out
        assert page.items, "has_more with an empty page would never end"
        after = page.positions[-1]
    raise AssertionError("pagination did not end")
