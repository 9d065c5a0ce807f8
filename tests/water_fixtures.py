"""The 供水排水 mock department, its connector and the request log, shared by the water tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import date
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.records import ComponentQuery, ComponentRecord
from connectors.water import WaterConnector
from mocks.city import (
    DEPARTMENT_CLASSES,
    DISTRICTS,
    BaseComponent,
    Inventory,
    anchor_from_date,
)
from mocks.control import MockControl
from mocks.water import create_app
from tests.departments import control_client, department_client

COORDINATE_TOLERANCE_DEG = 1e-6
STATE_OF = {"INTACT": "完好", "DAMAGED": "破损", "MISSING": "丢失", "OCCUPIED": "占用", "RETIRED": "废弃"}

INVENTORY = Inventory(scale=0.05, anchor=anchor_from_date(date(2026, 10, 1)))
MOCK_APP: MockControl = create_app(INVENTORY)
WATER_CLASSES = tuple(DEPARTMENT_CLASSES["water"])


def water_rows(**filters: Any) -> list[BaseComponent]:
    return list(INVENTORY.select("water", **filters))


def mock_client() -> httpx.AsyncClient:
    return control_client(MOCK_APP)


@pytest.fixture(name="water")
async def fixture_water() -> AsyncIterator[WaterConnector]:
    async with mock_client() as client:
        await client.post("/_mock/faults", json={})
        connector = WaterConnector(department_client(MOCK_APP))
        yield connector
        await connector.aclose()
        await client.post("/_mock/faults", json={})


@pytest.fixture(name="raw")
async def fixture_raw() -> AsyncIterator[httpx.AsyncClient]:
    async with mock_client() as client:
        yield client


async def log_position() -> int:
    async with mock_client() as client:
        return int((await client.get("/_mock/requests")).json()["total"])


async def requests_since(seq: int) -> list[dict[str, Any]]:
    async with mock_client() as client:
        answer = (await client.get("/_mock/requests", params={"since": seq})).json()
    return list(answer["requests"])


async def set_faults(faults: dict[str, Any]) -> None:
    async with mock_client() as client:
        (await client.post("/_mock/faults", json=faults)).raise_for_status()


def query_of(entry: dict[str, Any]) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(entry["query"]).items()}


async def walk(
    connector: WaterConnector, query: ComponentQuery, sizes: Iterable[int],
) -> list[ComponentRecord]:
    """Follow resume positions to the end, taking ``first`` from ``sizes`` in turn."""
    sizes = list(sizes)
    out: list[ComponentRecord] = []
    after: str | None = None
    expected_total = None
    for step in range(100_000):
        page = await connector.search_components(query, after, sizes[step % len(sizes)])
        expected_total = page.total if expected_total is None else expected_total
        assert page.total == expected_total
        assert len(page.positions) == len(page.items)
        out.extend(page.items)
        if not page.has_more:
            assert len(out) == page.total
            return out
        assert page.items, "has_more with an empty page would loop forever"
        after = page.positions[-1]
    raise AssertionError("walk did not end")


def sample_of_every_class() -> list[BaseComponent]:
    """A few components of every water class in both districts, including every status that occurs."""
    rows: list[BaseComponent] = []
    for region in DISTRICTS:
        for class_code in WATER_CLASSES:
            rows.extend(INVENTORY.buckets[(region, class_code)][:3])
    for status in STATE_OF:
        rows.extend(water_rows(statuses=[status])[:2])
    return list({row.id: row for row in rows}.values())
