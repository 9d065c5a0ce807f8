"""The spec is expressive enough for the spine: water, transport and housing rewritten as specs
(``connectors/specs/*.yaml``) answer exactly what their code connectors answer, against the same mock departments —
searches with every filter pushed down, pagination walked across page boundaries, batched lookups."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Connector
from connectors.client import DepartmentClient
from connectors.housing import HousingConnector
from connectors.records import BBox, ComponentQuery, ComponentStatus, Near
from connectors.spec.connector import connector_class
from connectors.spec.model import load_spec, spec_json_schema
from connectors.transport import TransportConnector
from connectors.water import WaterConnector
from tests.conftest import MockDepartments
from tests.departments import spec_client

SPECS = Path(__file__).resolve().parent.parent / "connectors" / "specs"
CODE_CONNECTORS: dict[str, Any] = {
    "water": lambda client: WaterConnector(client),
    "transport": lambda client: TransportConnector(client),
    "housing": lambda client: HousingConnector(client, client_id="yiwang-gateway",
                                               client_secret="housing-demo-secret"),
}
QUERIES = {
    "water": [ComponentQuery(), ComponentQuery(class_codes=("0113", "2141"), region_codes=("370812",)),
              ComponentQuery(statuses=(ComponentStatus.DAMAGED, ComponentStatus.MISSING)),
              ComponentQuery(bbox=BBox(116.52, 35.38, 116.58, 35.44)),
              ComponentQuery(near=Near(116.6, 35.42, 800.0), class_codes=("0101",))],
    "transport": [ComponentQuery(), ComponentQuery(class_codes=("0201",)),
                  ComponentQuery(statuses=(ComponentStatus.INTACT,), region_codes=("370811",)),
                  ComponentQuery(near=Near(116.8, 35.56, 1500.0))],
    "housing": [ComponentQuery(), ComponentQuery(class_codes=("0602",)),
                ComponentQuery(statuses=(ComponentStatus.OCCUPIED,), bbox=BBox(116.72, 35.5, 116.8, 35.6))],
}


def comparable(value: Any) -> Any:
    """Records as plain data with floats to a micrometre-ish precision (unit conversions may differ in the last bit)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: comparable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [comparable(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, Enum):
        return value.value
    return value


async def walk(connector: Connector, query: ComponentQuery, page_size: int, pages: int) -> tuple[list[Any], int]:
    seen: list[Any] = []
    after = None
    total = 0
    for _ in range(pages):
        page = await connector.search_components(query, after, page_size)
        total = page.total
        seen += page.items
        if not page.has_more:
            break
        after = page.positions[-1]
    return seen, total


@pytest.fixture(params=sorted(CODE_CONNECTORS))
async def pair(request: pytest.FixtureRequest, mock_departments: MockDepartments,
               ) -> AsyncIterator[tuple[Connector, Connector, str]]:
    department = request.param
    url = mock_departments.url(department)
    spec = load_spec(SPECS / f"{department}.yaml").model_copy(update={"base_url": url})
    from_spec = connector_class(spec)(spec_client(url))
    from_code = CODE_CONNECTORS[department](DepartmentClient(url))
    yield from_spec, from_code, department
    await from_spec.aclose()
    await from_code.aclose()


async def test_spec_connector_answers_like_the_code_connector(pair: tuple[Connector, Connector, str]) -> None:
    from_spec, from_code, department = pair
    assert from_spec.department_id == from_code.department_id
    assert from_spec.component_classes == from_code.component_classes
    await from_spec.check_health()
    for query in QUERIES[department]:
        spec_records, spec_total = await walk(from_spec, query, 37, 4)
        code_records, code_total = await walk(from_code, query, 37, 4)
        assert spec_total == code_total > 0, query
        assert comparable(spec_records) == comparable(code_records), query
    ids = [record.id for record in (await from_code.search_components(ComponentQuery(), None, 150)).items[::7]]
    ids.append(ids[0][:10] + "999999")  # unknown ids are simply absent
    assert comparable(await from_spec.get_components(ids)) == comparable(await from_code.get_components(ids))


def test_the_published_json_schema_is_the_models() -> None:
    published = json.loads((Path(__file__).resolve().parent.parent / "connectors" / "spec"
                            / "connector-spec.schema.json").read_text(encoding="utf-8"))
    assert published == spec_json_schema()
    assert published["properties"]["auth"]["discriminator"]["mapping"].keys() == {
        "none", "api_key", "oauth2_client_credentials"}
