"""A spec declares typed attributes for a class it serves (``types:``): once registered over the admin API, the
served schema has the type, the class's components answer as it with typed fields and documentation, and a bad
declaration is refused with a sentence naming its key. Without declarations the schema is as it was."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.auth.demo import mint_token
from mocks.city import Inventory, anchor_from_date
from mocks.gas import GasInventory
from tests.conftest import TEST_ANCHOR, MockDepartments
from tests.served import registry_env, served_gateway

REPO = Path(__file__).resolve().parent.parent
GAS_SPEC = REPO / "connectors" / "specs" / "gas.yaml"
GAS_PORT_OFFSET = 6
ADMIN = mint_token("MUNICIPAL", "370800", ["platform_admin"], subject="admin-li")
VIEWER = mint_token("NATIONAL", "000000", ["viewer"], subject="viewer-wang")
RELOAD_WAIT_S = 15.0
TYPES = """
types:
  "0135":
    type_name: GasRegulatorStation
    description: 燃气调压站 — gas pressure regulator station
    attributes:
      - {name: outlet_pressure_kpa, type: float, unit: kPa, description: 出口压力}
      - {name: inlet_pressure_mpa, type: float, unit: MPa, description: 进口压力}
      - {name: methane_lel, type: float, unit: "%LEL", description: 甲烷浓度}
      - {name: reading_at, type: datetime, description: 读数时间}
      - {name: material, type: string}
"""
STATIONS = """{ components(filter: {classCodes: ["0135"]}, first: 30) { nodes { __typename id
  ... on GasRegulatorStation { outletPressureKpa inletPressureMpa methaneLel readingAt material attributes } } } }"""


class Gateway:
    def __init__(self, url: str, gas_url: str) -> None:
        self.url = url
        self.gas_url = gas_url

    def graphql(self, query: str, token: str = VIEWER) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/graphql", json={"query": query},
                              headers={"authorization": f"Bearer {token}"}, timeout=30)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def spec(self, extra: str = "") -> str:
        return GAS_SPEC.read_text(encoding="utf-8").replace("http://127.0.0.1:9106", self.gas_url) + extra

    def register(self, spec: str) -> httpx.Response:
        return httpx.post(f"{self.url}/admin/connectors", content=spec.encode(), timeout=60,
                          headers={"authorization": f"Bearer {ADMIN}", "content-type": "application/yaml"})

    def wait_for(self, query: str, ok: Any) -> dict[str, Any]:
        deadline = time.monotonic() + RELOAD_WAIT_S
        while True:
            answer = self.graphql(query)
            if ok(answer) or time.monotonic() > deadline:
                return answer
            time.sleep(0.2)


@pytest.fixture(scope="module")
def gateway(mock_departments: MockDepartments, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    directory = tmp_path_factory.mktemp("spec-types")
    with served_gateway(mock_departments, directory, registry_env(directory), cwd=REPO) as served:
        yield Gateway(served.url, f"http://127.0.0.1:{mock_departments.base_port + GAS_PORT_OFFSET}")


def _has_nodes(answer: dict[str, Any]) -> bool:
    return "errors" not in answer and bool(answer["data"]["components"]["nodes"])


def test_a_declared_type_serves_typed_fields_after_registration(gateway: Gateway) -> None:
    registered = gateway.register(gateway.spec())
    assert registered.status_code in (200, 201), registered.text
    untyped = gateway.wait_for("""{ components(filter: {classCodes: ["0135"]}, first: 5) { nodes { __typename
                                  ... on GenericComponent { attributes } } } }""", _has_nodes)
    assert {n["__typename"] for n in untyped["data"]["components"]["nodes"]} == {"GenericComponent"}
    assert "errors" in gateway.graphql(STATIONS)  # no such type yet

    registered = gateway.register(gateway.spec(TYPES))
    assert registered.status_code in (200, 201), registered.text
    answer = gateway.wait_for(STATIONS, _has_nodes)
    assert "errors" not in answer, answer
    nodes = answer["data"]["components"]["nodes"]
    assert len(nodes) >= 8  # the fast list completion runs on lists this long
    truth = GasInventory(Inventory(scale=1.0, anchor=anchor_from_date(TEST_ANCHOR)))
    for node in nodes:
        assert node["__typename"] == "GasRegulatorStation"
        expected = truth.attributes(truth.by_id[node["id"]])
        assert node["outletPressureKpa"] == pytest.approx(expected["outlet_pressure_kpa"])
        assert isinstance(node["outletPressureKpa"], float)
        assert node["inletPressureMpa"] == pytest.approx(expected["inlet_pressure_mpa"], abs=1e-4)
        assert node["methaneLel"] == pytest.approx(expected["methane_lel"])
        assert node["readingAt"].startswith(expected["reading_at"].isoformat(timespec="seconds")[:19])
        assert node["material"] is None  # mapped, but a station has none
        assert node["attributes"]["outlet_pressure_kpa"] == node["outletPressureKpa"]

    mixed = gateway.graphql("""{ components(filter: {classCodes: ["0111", "0135"]}, first: 40) { nodes { __typename
                               ... on ManholeCover { diameterMm } ... on GasRegulatorStation { methaneLel } } } }""")
    assert "errors" not in mixed, mixed
    assert {n["__typename"] for n in mixed["data"]["components"]["nodes"]} <= {"ManholeCover", "GasRegulatorStation"}


def test_introspection_documents_the_declared_type(gateway: Gateway) -> None:
    assert gateway.register(gateway.spec(TYPES)).status_code in (200, 201)
    query = """{ __type(name: "GasRegulatorStation") { kind description interfaces { name }
                 fields { name description type { name } } } }"""
    answer = gateway.wait_for(query, lambda a: "errors" not in a and a["data"]["__type"] is not None)
    answer = gateway.graphql(query, ADMIN)
    described = answer["data"]["__type"]
    assert described["kind"] == "OBJECT"
    assert described["description"] == "燃气调压站 — gas pressure regulator station"
    assert described["interfaces"] == [{"name": "Component"}]
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["outletPressureKpa"]["description"] == "出口压力 (kPa)"
    assert fields["outletPressureKpa"]["type"]["name"] == "Float"
    assert fields["readingAt"]["type"]["name"] == "DateTime"
    assert fields["material"]["type"]["name"] == "String"
    assert {"id", "name", "location", "attributes"} <= set(fields)


@pytest.mark.parametrize(("declaration", "key"), [
    ('types: {"0135": {type_name: gasStation, attributes: [{name: methane_lel, type: float}]}}',
     "types.0135.type_name"),
    ('types: {"0135": {type_name: ManholeCover, attributes: [{name: methane_lel, type: float}]}}',
     "types.0135.type_name"),
    ('types: {"0135": {type_name: GeoPoint, attributes: [{name: methane_lel, type: float}]}}',
     "types.0135.type_name"),
    ('types: {"0135": {type_name: GasStation, attributes: [{name: methaneLel, type: float}]}}',
     "types.0135.attributes[0].name"),
    ('types: {"0135": {type_name: GasStation, attributes: [{name: not_mapped, type: float}]}}',
     "types.0135.attributes[0].name"),
    ('types: {"0135": {type_name: GasStation, attributes: [{name: methane_lel, type: decimal}]}}',
     "types.0135.attributes[0].type"),
    ('types: {"0135": {type_name: GasStation, attributes: [{name: status, type: string}]}}',
     "types.0135.attributes[0].name"),
    ('types: {"0111": {type_name: GasCover, attributes: [{name: material, type: string}]}}', "types.0111"),
    ('types: {"0101": {type_name: GasStation, attributes: [{name: material, type: string}]}}', "types.0101"),
])
def test_a_bad_declaration_is_refused_naming_its_key(gateway: Gateway, declaration: str, key: str) -> None:
    refused = gateway.register(gateway.spec("\n" + declaration + "\n"))
    assert 400 <= refused.status_code < 500, refused.text
    assert key in refused.text, refused.text
    assert "Traceback" not in refused.text


def test_removing_the_declaration_removes_the_type(gateway: Gateway) -> None:
    assert gateway.register(gateway.spec(TYPES)).status_code in (200, 201)
    assert _has_nodes(gateway.wait_for(STATIONS, _has_nodes))
    assert gateway.register(gateway.spec()).status_code in (200, 201)
    answer = gateway.wait_for(STATIONS, lambda a: "errors" in a)
    assert "errors" in answer
    generic = gateway.graphql("""{ components(filter: {classCodes: ["0135"]}, first: 3) { nodes { __typename } } }""")
    assert {n["__typename"] for n in generic["data"]["components"]["nodes"]} == {"GenericComponent"}
