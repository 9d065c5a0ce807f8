"""The 交通 mock department, its connector and the request log, shared by the transport tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.catalogue import ATTRIBUTE_FIELDS, TYPE_BY_CLASS
from connectors.records import ComponentQuery, ComponentRecord, ComponentStatus, Organization
from connectors.transport import TransportConnector
from mocks.city import DEPARTMENT_NAMES, BaseComponent, Inventory, attributes, organizations
from mocks.transport import create_app
from tests.departments import control_client, department_client

INVENTORY = Inventory(scale=0.05)
DEPARTMENT = "transport"
BASE_URL = "http://transport"
COORDINATE_TOLERANCE_DEG = 1e-6
# The department's own words for the national statuses (the dialect), written out independently of the code.
CONDITION_OF = {
    "INTACT": "GOOD", "DAMAGED": "BROKEN", "MISSING": "LOST", "OCCUPIED": "OCCUPIED",
    "RETIRED": "DECOMMISSIONED",
}
RENCHENG = "370811"
CHINA_OFFSET = timedelta(hours=8)


@dataclass
class Department:
    app: Any
    client: httpx.AsyncClient
    connector: TransportConnector

    async def requests_since(self, seq: int) -> list[dict[str, Any]]:
        answer = await self.client.get("/_mock/requests", params={"since": seq})
        return list(answer.json()["requests"])

    async def request_count(self) -> int:
        return int((await self.client.get("/_mock/requests")).json()["total"])

    async def set_faults(self, faults: dict[str, Any]) -> None:
        (await self.client.post("/_mock/faults", json=faults)).raise_for_status()


async def _department(**app_options: Any) -> AsyncIterator[Department]:
    connector_options = {"max_page_size": app_options["max_limit"]} if "max_limit" in app_options else {}
    app = create_app(INVENTORY, **app_options)
    client = control_client(app)
    connector = TransportConnector(department_client(app), **connector_options)
    yield Department(app, client, connector)
    await connector.aclose()
    await client.aclose()


@pytest.fixture(name="dept")
async def fixture_dept() -> AsyncIterator[Department]:
    async for department in _department():
        yield department


@pytest.fixture(name="small_pages")
async def fixture_small_pages() -> AsyncIterator[Department]:
    """A department that serves at most 5 items a call, so walks cross many department pages."""
    async for department in _department(max_limit=5):
        yield department


def transport_components() -> list[BaseComponent]:
    return sorted(INVENTORY.of_department(DEPARTMENT), key=lambda c: c.id)


def expected_ids(**filters: Any) -> list[str]:
    return [c.id for c in INVENTORY.select(DEPARTMENT, **filters)]


def query_of(entry: dict[str, Any]) -> dict[str, list[str]]:
    return parse_qs(entry["query"])


def assert_maps(record: ComponentRecord, component: BaseComponent) -> None:
    owner, maintainer = organizations(DEPARTMENT, component)
    assert record.id == component.id
    assert record.class_code == component.class_code
    assert record.name == component.name
    assert record.status is ComponentStatus(component.status)
    assert record.region_code == component.region_code
    assert record.grid_code == component.grid_code
    assert abs(record.lng - component.lng) < COORDINATE_TOLERANCE_DEG
    assert abs(record.lat - component.lat) < COORDINATE_TOLERANCE_DEG
    assert record.department_id == DEPARTMENT
    assert record.department_name == DEPARTMENT_NAMES[DEPARTMENT]
    assert record.owner is not None and record.maintainer is not None
    assert record.owner == Organization(owner.name, owner.credit_code)
    assert record.maintainer == Organization(maintainer.name, maintainer.credit_code)
    assert record.updated_at == component.updated_at
    assert record.updated_at.utcoffset() == CHINA_OFFSET
    assert dict(record.attributes) == attributes(component, INVENTORY.anchor)
    assert set(record.attributes) == set(ATTRIBUTE_FIELDS[TYPE_BY_CLASS[component.class_code]])


async def walk(connector: TransportConnector, query: ComponentQuery, first: int,
               consume: int | None = None) -> tuple[list[str], set[int]]:
    """All ids of a query, page by page, taking ``consume`` items of each page (as a merging gateway may)."""
    ids: list[str] = []
    totals: set[int] = set()
    after: str | None = None
    for _ in range(10_000):
        page = await connector.search_components(query, after, first)
        totals.add(page.total)
        assert len(page.items) == len(page.positions) <= first
        taken = len(page.items) if consume is None else min(consume, len(page.items))
        ids.extend(record.id for record in page.items[:taken])
        if taken < len(page.items):
            after = page.positions[taken - 1]
            continue
        if not page.has_more:
            return ids, totals
        assert page.items, "has_more with an empty page would loop forever"
        after = page.positions[-1]
    raise AssertionError("walk did not finish")


def _some_component(class_code: str) -> BaseComponent:
    return next(c for c in transport_components() if c.class_code == class_code and c.region_code == RENCHENG)
