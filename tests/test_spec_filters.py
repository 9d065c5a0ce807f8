"""A spec that binds fewer query filters than the gateway offers never breaks a query (issue 17 items 6 and 4).

The gas company is registered over the admin API with specs whose request parameters leave filters out: the gateway
applies those filters to what the department returns (compared here with the mock's ground truth), or — past the
spec's ``gateway_filter_max_records`` — leaves the department out with ``extensions.skipped``, never failing the
whole query. The dry run says per filter how it is served, catches a binding the department ignores, and warns when
converted positions fall outside the spec's regions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.geo import haversine_m
from connectors.records import BBox, ComponentQuery, ComponentStatus, Near
from connectors.spec.connector import SpecConnector, connector_class
from connectors.spec.model import ConnectorSpec, load_spec
from gateway.auth.demo import mint_token
from mocks.city import Inventory, anchor_from_date
from mocks.gas import PROJECTED_CRS, GasDevice, GasInventory
from tests.conftest import TEST_ANCHOR, MockDepartments
from tests.departments import spec_client
from tests.served import ServedGateway, registry_env, served_gateway

REPO = Path(__file__).resolve().parent.parent
GAS_SPEC = REPO / "connectors" / "specs" / "gas.yaml"
GAS_PORT_OFFSET = 6
ADMIN = mint_token("MUNICIPAL", "370800", ["platform_admin"], subject="admin-li")
BINDINGS = {  # the search parameters of gas.yaml, by the filter they bind
    "region_codes": "      district: {from: region_codes}\n",
    "class_codes": "      category: {from: class_codes}\n",
    "grid_code": "      grid: {from: grid_code}\n",
    "statuses": "",  # several lines: removed by STATUS_BINDING
    "bbox": '      bbox: {from: bbox, format: "{min_lng},{min_lat},{max_lng},{max_lat}"}\n',
    "near": '      near: {from: near, format: "{lng},{lat},{radius_m}"}\n',
}
STATUS_BINDING = re.compile(r"      status:\n        from: statuses\n        values: \{[^}]*\}\n")
BOX = (116.52, 35.38, 116.60, 35.44)  # inside 任城区 370811
CENTRE, RADIUS_M = (116.80, 35.56), 2500.0  # inside 兖州区 370812
PAGE = 40


class Gateway(ServedGateway):
    gas_url: str

    def graphql(self, query: str) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/graphql", json={"query": query},
                              headers={"authorization": f"Bearer {ADMIN}"}, timeout=30)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def spec(self, *, without: tuple[str, ...] = (), replace: dict[str, str] | None = None) -> str:
        text = GAS_SPEC.read_text(encoding="utf-8").replace("http://127.0.0.1:9106", self.gas_url)
        if "statuses" in without:
            text, removed = STATUS_BINDING.subn("", text)
            assert removed == 1
        for name in without:
            if name != "statuses":
                assert BINDINGS[name] in text, name
                text = text.replace(BINDINGS[name], "")
        text = text.replace("    params:\n    pagination", "    params: {}\n    pagination")  # none left
        for old, new in (replace or {}).items():
            assert re.search(old, text), old
            text = re.sub(old, new, text)
        return text

    def register(self, spec: str) -> None:
        response = self._admin("", spec)
        assert response.status_code in (200, 201), response.text

    def dry_run(self, spec: str) -> dict[str, Any]:
        response = self._admin("/test", spec)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def _admin(self, path: str, spec: str) -> httpx.Response:
        return httpx.post(f"{self.url}/admin/connectors{path}", content=spec.encode(), timeout=60,
                          headers={"authorization": f"Bearer {ADMIN}", "content-type": "application/yaml"})


@pytest.fixture(scope="module")
def gateway(mock_departments: MockDepartments, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    directory = tmp_path_factory.mktemp("spec-filters")
    with served_gateway(mock_departments, directory, registry_env(directory), cwd=REPO) as served:
        running = Gateway(served.url, served.log_path)
        running.gas_url = f"http://127.0.0.1:{mock_departments.base_port + GAS_PORT_OFFSET}"
        yield running


@pytest.fixture(scope="module")
def truth() -> list[GasDevice]:
    return GasInventory(Inventory(scale=1.0, anchor=anchor_from_date(TEST_ANCHOR))).devices


def walk(gateway: Gateway, filter_text: str) -> tuple[list[str], int]:
    """Every component id the filter matches, page by page, and the total count; asserts no error on the way."""
    ids: list[str] = []
    after = ""
    while True:
        answer = gateway.graphql(f"{{ components(filter: {{{filter_text}}}, first: {PAGE}{after}) "
                                 "{ totalCount nodes { id } pageInfo { hasNextPage endCursor } } }")
        assert "errors" not in answer and answer["data"] is not None, answer
        components = answer["data"]["components"]
        ids += [node["id"] for node in components["nodes"]]
        if not components["pageInfo"]["hasNextPage"]:
            return ids, components["totalCount"]
        after = f', after: "{components["pageInfo"]["endCursor"]}"'


def in_box(device: GasDevice) -> bool:
    return BOX[0] <= device.lng <= BOX[2] and BOX[1] <= device.lat <= BOX[3]


def near_centre(device: GasDevice) -> bool:
    return haversine_m(*CENTRE, device.lng, device.lat) <= RADIUS_M


BBOX_TEXT = f"bbox: {{minLng: {BOX[0]}, minLat: {BOX[1]}, maxLng: {BOX[2]}, maxLat: {BOX[3]}}}"
NEAR_TEXT = f"near: {{lng: {CENTRE[0]}, lat: {CENTRE[1]}, radiusM: {RADIUS_M}}}"


def test_filters_the_spec_does_not_bind_are_applied_by_the_gateway(gateway: Gateway, truth: list[GasDevice]) -> None:
    gateway.register(gateway.spec(without=("bbox", "near")))
    sample = next(d for d in truth if in_box(d) and d.class_code == "0111")
    cases: list[tuple[str, Any]] = [
        (BBOX_TEXT, in_box),
        (NEAR_TEXT, near_centre),
        (f'{BBOX_TEXT}, classCodes: ["0135"]', lambda d: in_box(d) and d.class_code == "0135"),
        (f'{NEAR_TEXT}, status: [INTACT, DAMAGED]', lambda d: near_centre(d) and d.status in ("INTACT", "DAMAGED")),
        (f'{BBOX_TEXT}, gridCode: "{sample.grid_code}"', lambda d: in_box(d) and d.grid_code == sample.grid_code),
        (f'{BBOX_TEXT}, regionCode: "370812"', lambda d: False),
    ]
    for filter_text, wanted in cases:
        ids, total = walk(gateway, f'{filter_text}, departments: ["gas"]')
        expected = sorted(d.id for d in truth if wanted(d))
        assert sorted(ids) == expected and total == len(expected), filter_text
    assert walk(gateway, BBOX_TEXT)[0]  # no class or department filter: every department, no error
    answer = gateway.graphql(f"{{ components(filter: {{{NEAR_TEXT}}}, first: 5) {{ totalCount }} }}")
    assert "errors" not in answer and "skipped" not in answer.get("extensions", {}), answer


def test_a_spec_binding_no_filter_at_all_still_answers_every_filter(gateway: Gateway,
                                                                  truth: list[GasDevice]) -> None:
    gateway.register(gateway.spec(without=tuple(BINDINGS)))
    grid = next(d.grid_code for d in truth if d.region_code == "370812")
    cases: list[tuple[str, Any]] = [
        ('regionCode: "370812", classCodes: ["0135"]', lambda d: d.region_code == "370812" and d.class_code == "0135"),
        ('status: [MISSING, RETIRED]', lambda d: d.status in ("MISSING", "RETIRED")),
        (f'gridCode: "{grid}", status: [INTACT]', lambda d: d.grid_code == grid and d.status == "INTACT"),
        (f'{NEAR_TEXT}, classCodes: ["0111"]', lambda d: near_centre(d) and d.class_code == "0111"),
    ]
    for filter_text, wanted in cases:
        ids, total = walk(gateway, f'{filter_text}, departments: ["gas"]')
        expected = sorted(d.id for d in truth if wanted(d))
        assert sorted(ids) == expected and total == len(expected), filter_text


def test_past_the_read_limit_the_department_is_skipped_with_a_warning_not_an_error(
        gateway: Gateway, truth: list[GasDevice]) -> None:
    gateway.register(gateway.spec(without=("bbox", "near"), replace={r"timeout_s: 5": "timeout_s: 5\n"
                                                                     "gateway_filter_max_records: 100"}))
    answer = gateway.graphql(f"{{ components(filter: {{{BBOX_TEXT}}}, first: 5) {{ totalCount nodes {{ id }} }} }}")
    assert "errors" not in answer and answer["data"]["components"]["totalCount"] > 0, answer  # the others answer
    [skipped] = answer["extensions"]["skipped"]
    assert skipped["department"] == "gas" and "bbox" in skipped["reason"] and "100" in skipped["reason"], skipped
    # Narrow enough (80 stations in both districts ≤ 100 records read): served, exactly.
    ids, total = walk(gateway, f'{BBOX_TEXT}, classCodes: ["0135"]')
    assert sorted(ids) == sorted(d.id for d in truth if in_box(d) and d.class_code == "0135") and total == len(ids)
    over_limit = gateway.spec(replace={r"timeout_s: 5": "timeout_s: 5\ngateway_filter_max_records: 20000"})
    refused = gateway._admin("", over_limit)
    assert refused.status_code == 400 and "gateway_filter_max_records" in refused.text, refused.text


def test_the_dry_run_reports_per_filter_how_it_is_served(gateway: Gateway) -> None:
    report = gateway.dry_run(gateway.spec(without=("bbox", "near")))
    assert report["ok"], report
    served = {entry["filter"]: entry["served"] for entry in report["filters"]}
    assert served == {"region_codes": "pushed down", "class_codes": "pushed down", "grid_code": "pushed down",
                      "statuses": "pushed down", "bbox": "applied by the gateway", "near": "applied by the gateway"}
    steps = {step["step"]: step for step in report["steps"]}
    assert steps["filter bbox"]["ok"] and "applied by the gateway" in steps["filter bbox"]["detail"]
    assert "request parameter district" in steps["filter region_codes"]["detail"]

    ignored = gateway.dry_run(gateway.spec(replace={r"      bbox: \{from: bbox": "      area: {from: bbox"}))
    assert not ignored["ok"], ignored
    [problem] = [p for p in ignored["problems"] if p["kind"] == "filter not applied"]
    assert problem["field"] == "bbox" and "ignore the parameter" in problem["message"]


def test_the_dry_run_warns_when_positions_fall_outside_the_spec_regions(gateway: Gateway) -> None:
    """No district_bounds in the spec, and a projected CRS one 3° zone off: points land ~3° west, still in China."""
    wrong_zone = "EPSG:4548" if PROJECTED_CRS == "EPSG:4549" else "EPSG:4549"
    spec = gateway.spec(replace={r"district_bounds:\n(  \"\d+\": \[[^\]]*\]\n)+": "",
                                 r"\ncrs: EPSG:45\d\d": f"\ncrs: {wrong_zone}"})
    report = gateway.dry_run(spec)
    messages = [(p["kind"], p["message"]) for p in report["problems"]]
    assert ("out-of-district coordinates",
            "outside the city of the spec's regions after conversion: is crs right?") in messages, report
    assert all("outside China" not in message for _, message in messages)
    assert not gateway.dry_run(gateway.spec(replace={r"district_bounds:\n(  \"\d+\": \[[^\]]*\]\n)+": ""}))[
        "problems"]


IN_PROCESS_QUERIES = {  # one per pagination style: page (water), offset (housing), cursor (transport)
    "water": [ComponentQuery(bbox=BBox(116.52, 35.38, 116.58, 35.44), class_codes=("0113", "2141")),
              ComponentQuery(near=Near(116.6, 35.42, 800.0), class_codes=("0101",),
                             statuses=(ComponentStatus.INTACT, ComponentStatus.DAMAGED))],
    "housing": [ComponentQuery(statuses=(ComponentStatus.OCCUPIED,), bbox=BBox(116.72, 35.5, 116.8, 35.6)),
                ComponentQuery(class_codes=("0602",), statuses=(ComponentStatus.DAMAGED, ComponentStatus.MISSING))],
    "transport": [ComponentQuery(near=Near(116.8, 35.56, 1500.0), class_codes=("0203",)),
                  ComponentQuery(statuses=(ComponentStatus.INTACT,), region_codes=("370811",))],
}


def unbound(spec: ConnectorSpec) -> ConnectorSpec:
    """``spec`` binding only regions and classes (the gas test covers those unbound): the other filters applied by
    the gateway."""
    search = spec.operations.search_components
    constants = {name: value for name, value in search.params.items()
                 if isinstance(value, str) or value.source in ("region_codes", "class_codes")}
    operations = spec.operations.model_copy(update={
        "search_components": search.model_copy(update={"params": constants})})
    return spec.model_copy(update={"operations": operations, "gateway_filter_max_records": 10_000})


async def read(connector: SpecConnector, query: ComponentQuery) -> tuple[list[str], int]:
    ids: list[str] = []
    after = None
    while True:
        page = await connector.search_components(query, after, 37)
        ids += [record.id for record in page.items]
        if not page.has_more:
            return ids, page.total
        after = page.positions[-1]


@pytest.mark.parametrize("department", sorted(IN_PROCESS_QUERIES))
async def test_every_pagination_style_answers_gateway_filters_like_the_department(
        mock_departments: MockDepartments, department: str) -> None:
    url = mock_departments.url(department)
    spec = load_spec(GAS_SPEC.parent / f"{department}.yaml").model_copy(update={"base_url": url})
    pushed, filtered = (connector_class(s)(spec_client(url)) for s in (spec, unbound(spec)))
    try:
        some = (await pushed.search_components(IN_PROCESS_QUERIES[department][0], None, 1)).items[0]
        by_grid = ComponentQuery(grid_code=some.grid_code, class_codes=(some.class_code,))
        for query in [*IN_PROCESS_QUERIES[department], by_grid]:
            expected, expected_total = await read(pushed, query)
            found, total = await read(filtered, query)
            assert expected and sorted(found) == sorted(expected) and total == expected_total, query
    finally:
        await pushed.aclose()
        await filtered.aclose()
