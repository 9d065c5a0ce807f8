"""The 住建 mock department behind OAuth2, its connector and the request log, shared by the housing tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.catalogue import ATTRIBUTE_FIELDS, TYPE_BY_CLASS
from connectors.housing import HousingConnector
from connectors.records import ComponentQuery, ComponentRecord, ComponentStatus, Organization
from mocks.city import DEPARTMENT_NAMES, BaseComponent, Inventory, attributes, organizations
from mocks.control import MockControl
from mocks.housing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, create_app
from tests.departments import control_client, department_client

INVENTORY = Inventory(scale=0.05)
BASE_URL = "http://housing"
TOKEN_PATH = "/oauth/token"
STATUS_CODE = {"INTACT": 1, "DAMAGED": 2, "MISSING": 3, "OCCUPIED": 4, "RETIRED": 5}
COORDINATE_TOLERANCE_DEG = 1e-6


# --- helpers ------------------------------------------------------------------------------------------------
def housing_components(**filters: Any) -> list[BaseComponent]:
    return list(INVENTORY.select("housing", **filters))


def expected_ids(**filters: Any) -> list[str]:
    return [c.id for c in housing_components(**filters)]


def plain_client(app: MockControl) -> httpx.AsyncClient:
    return control_client(app)


def make_connector(app: MockControl, **options: Any) -> HousingConnector:
    options = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, **options}
    return HousingConnector(department_client(app), **options)


async def request_log(app: MockControl) -> list[dict[str, Any]]:
    async with plain_client(app) as client:
        entries: list[dict[str, Any]] = (await client.get("/_mock/requests")).json()["requests"]
    return entries


async def api_requests(app: MockControl) -> list[dict[str, Any]]:
    return [entry for entry in await request_log(app) if entry["path"] != TOKEN_PATH]


async def token_requests(app: MockControl) -> list[dict[str, Any]]:
    return [entry for entry in await request_log(app) if entry["path"] == TOKEN_PATH]


def query_params(entry: dict[str, Any]) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(entry["query"]).items()}


async def set_faults(app: MockControl, faults: dict[str, Any]) -> None:
    async with plain_client(app) as client:
        (await client.post("/_mock/faults", json=faults)).raise_for_status()


async def access_token(client: httpx.AsyncClient) -> str:
    response = await client.post(TOKEN_PATH, data={
        "grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET})
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


async def walk(connector: HousingConnector, query: ComponentQuery, first: int) -> list[ComponentRecord]:
    """Every match, page by page, checking totals and has_more on the way."""
    truth_total = len(housing_components(**selection_filters(query)))
    items: list[ComponentRecord] = []
    after: str | None = None
    while True:
        page = await connector.search_components(query, after, first)
        assert page.total == truth_total
        assert len(page.items) == len(page.positions) <= first
        items.extend(page.items)
        assert page.has_more == (len(items) < truth_total)
        if not page.has_more:
            return items
        after = page.positions[-1]


def selection_filters(query: ComponentQuery) -> dict[str, Any]:
    """The same query in ``Inventory.select`` terms, computed independently of the connector."""
    return {
        "regions": query.region_codes,
        "class_codes": query.class_codes,
        "grid_code": query.grid_code,
        "statuses": [status.value for status in query.statuses] if query.statuses is not None else None,
        "bbox": (query.bbox.min_lng, query.bbox.min_lat, query.bbox.max_lng, query.bbox.max_lat)
        if query.bbox else None,
        "near": (query.near.lng, query.near.lat, query.near.radius_m) if query.near else None,
    }


def assert_matches_inventory(record: ComponentRecord) -> None:
    truth = INVENTORY.get(record.id)
    assert truth is not None
    owner, maintainer = organizations("housing", truth)
    assert record.class_code == truth.class_code
    assert record.name == truth.name
    assert record.status == ComponentStatus(truth.status)
    assert record.region_code == truth.region_code
    assert record.grid_code == truth.grid_code
    assert abs(record.lng - truth.lng) <= COORDINATE_TOLERANCE_DEG
    assert abs(record.lat - truth.lat) <= COORDINATE_TOLERANCE_DEG
    assert record.department_id == HousingConnector.department_id
    assert record.department_name == DEPARTMENT_NAMES["housing"]
    assert record.owner == Organization(owner.name, owner.credit_code)
    assert record.maintainer == Organization(maintainer.name, maintainer.credit_code)
    assert record.updated_at == truth.updated_at
    assert record.updated_at.utcoffset() == timedelta(hours=8)
    assert dict(record.attributes) == attributes(truth, INVENTORY.anchor)
    assert set(record.attributes) == set(ATTRIBUTE_FIELDS[TYPE_BY_CLASS[record.class_code]])


@pytest.fixture(name="mock_app")
def fixture_mock_app() -> MockControl:
    return create_app(INVENTORY)


@pytest.fixture(name="connector")
async def fixture_connector(mock_app: MockControl) -> AsyncIterator[HousingConnector]:
    conn = make_connector(mock_app)
    yield conn
    await conn.aclose()
