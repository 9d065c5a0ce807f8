"""Run-time registration against a running gateway (``yiwang serve`` on SQLite), driven by the ``yiwang connectors``
CLI: the gas company, which no gateway code knows, is tested, registered and queried at once; a broken spec's
problems are reported; SSRF attempts are refused; secrets never show in answers, CLI output, logs or traces."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.auth.demo import mint_token
from mocks.city import Inventory
from mocks.gas import DEMO_API_KEY, GasInventory
from tests.conftest import MockDepartments
from tests.served import RedirectingDepartment, ServedGateway, registry_env, served_gateway

REPO = Path(__file__).resolve().parent.parent
GAS_SPEC = REPO / "connectors" / "specs" / "gas.yaml"
GAS_PORT_OFFSET = 6
ADMIN = mint_token("MUNICIPAL", "370800", ["platform_admin"], subject="admin-li")
GAS_OPERATOR = mint_token("MUNICIPAL", "370800", ["department_operator"], departments=["gas"], subject="gas-it-wang")
WATER_OPERATOR = mint_token("MUNICIPAL", "370800", ["department_operator"], departments=["water"])
VIEWER = mint_token("MUNICIPAL", "370800", ["viewer"])
STATIONS_QUERY = """{ components(filter: {classCodes: ["0135"], regionCode: "370812"}, first: 3) {
  totalCount nodes { __typename id name status department gridCode location { lng lat }
                     ... on GenericComponent { attributes } } } }"""


@dataclass
class RunningGateway(ServedGateway):
    database: Path
    gas_url: str

    def cli(self, *args: str, token: str | None = ADMIN) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("YIWANG_")}
        env["YIWANG_GATEWAY_URL"] = self.url
        if token is not None:
            env["YIWANG_TOKEN"] = token
        return subprocess.run([sys.executable, "-m", "gateway.cli", "connectors", *args], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=60)

    def spec_file(self, tmp_path: Path, replacements: dict[str, str] | None = None) -> Path:
        text = GAS_SPEC.read_text(encoding="utf-8").replace("http://127.0.0.1:9106", self.gas_url)
        for old, new in (replacements or {}).items():
            assert old in text, old
            text = text.replace(old, new)
        path = tmp_path / "gas.yaml"
        path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture(scope="module")
def running_gateway(mock_departments: MockDepartments, tmp_path_factory: pytest.TempPathFactory,
                    ) -> Iterator[RunningGateway]:
    directory = tmp_path_factory.mktemp("registry")
    database = directory / "registry.sqlite3"
    with served_gateway(mock_departments, directory, registry_env(directory, YIWANG_TRACE_CONSOLE="true"),
                        cwd=REPO) as served:
        yield RunningGateway(served.url, served.log_path, database,
                             f"http://127.0.0.1:{mock_departments.base_port + GAS_PORT_OFFSET}")


def graphql(gateway: RunningGateway, query: str, token: str = ADMIN) -> dict[str, Any]:
    response = httpx.post(f"{gateway.url}/graphql", json={"query": query},
                          headers={"authorization": f"Bearer {token}"}, timeout=30)
    body: dict[str, Any] = response.json()
    return body


def admin(gateway: RunningGateway, method: str, path: str, token: str = ADMIN, content: bytes | None = None,
          content_type: str = "application/json") -> httpx.Response:
    return httpx.request(method, f"{gateway.url}/admin/connectors{path}", content=content, timeout=30,
                         headers={"authorization": f"Bearer {token}", "content-type": content_type})


def test_gas_is_tested_registered_with_the_cli_and_queried_at_once(running_gateway: RunningGateway,
                                                                   tmp_path: Path) -> None:
    gateway = running_gateway
    spec = gateway.spec_file(tmp_path)
    before = graphql(gateway, STATIONS_QUERY)
    assert before["data"]["components"]["totalCount"] == 0  # nobody serves 0135 yet

    validated = gateway.cli("validate", str(spec), token=None)
    assert validated.returncode == 0, validated.stderr
    tested = gateway.cli("test", str(spec), token=GAS_OPERATOR)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "gas: OK" in tested.stdout and "[ok] fetch by id" in tested.stdout
    registered = gateway.cli("register", str(spec), token=GAS_OPERATOR)
    assert registered.returncode == 0, registered.stderr
    assert "gas version 1 (register, enabled) by gas-it-wang" in registered.stdout

    answer = graphql(gateway, STATIONS_QUERY)  # immediately: no wait, no restart
    assert "errors" not in answer, answer
    truth = GasInventory(Inventory(scale=1.0, anchor=_anchor()))
    expected = [d for d in truth.devices if d.class_code == "0135" and d.region_code == "370812"]
    components = answer["data"]["components"]
    assert components["totalCount"] == len(expected)
    for node, device in zip(components["nodes"], expected, strict=False):
        canonical = truth.attributes(device)
        assert node["__typename"] == "GenericComponent" and node["department"] == "gas"
        assert (node["id"], node["name"], node["status"], node["gridCode"]) == (
            device.id, device.name, device.status, device.grid_code)
        assert node["location"]["lng"] == pytest.approx(device.lng, abs=1e-6)  # EPSG:4548 metres → WGS-84
        assert node["location"]["lat"] == pytest.approx(device.lat, abs=1e-6)
        attributes = node["attributes"]
        assert attributes["methane_lel"] == canonical["methane_lel"]
        assert attributes["inlet_pressure_mpa"] == pytest.approx(canonical["inlet_pressure_mpa"])  # from kPa
        assert attributes["outlet_pressure_kpa"] == canonical["outlet_pressure_kpa"]
    covers = graphql(gateway, '{ components(filter: {classCodes: ["0111"]}, first: 1) '
                              '{ nodes { __typename ... on ManholeCover { diameterMm material } } } }')
    assert covers["data"]["components"]["nodes"][0]["__typename"] == "ManholeCover"
    departments = graphql(gateway, "{ departments { id } }")["data"]["departments"]
    assert "gas" in [d["id"] for d in departments]

    listed = gateway.cli("list")
    assert listed.returncode == 0, listed.stderr
    # The whole row, so that "inactive" or "disabled" cannot pass for "active"/"enabled".
    assert re.search(r"^gas\s+spec v1\s+enabled\s+active\s+gas-it-wang\s", listed.stdout, re.MULTILINE), listed.stdout
    listing, shown, history = (admin(gateway, "GET", path) for path in ("", "/gas", "/gas/history"))
    assert (listing.status_code, shown.status_code, history.status_code) == (200, 200, 200)
    gas_rows = [row for row in listing.json()["registered"] if row["department"] == "gas"]
    assert [(row["version"], row["enabled"], row["active"]) for row in gas_rows] == [(1, True, True)]
    assert "gas" in shown.text and "**********" in shown.text  # the key is there, masked
    assert [(v["version"], v["action"]) for v in history.json()["versions"]] == [(1, "register")]
    _assert_no_secret(gateway, tested.stdout, tested.stderr, registered.stdout, registered.stderr, listed.stdout,
                      gateway.cli("show", "gas").stdout, gateway.cli("--json", "history", "gas").stdout,
                      listing.text, shown.text, history.text)


def _anchor() -> Any:
    from mocks.city import anchor_from_date
    from tests.conftest import TEST_ANCHOR

    return anchor_from_date(TEST_ANCHOR)


def _assert_no_secret(gateway: RunningGateway, *outputs: str) -> None:
    for output in outputs:
        assert DEMO_API_KEY not in output
    assert DEMO_API_KEY not in gateway.log_text()  # the server log, with every span printed (YIWANG_TRACE_CONSOLE)
    rows = sqlite3.connect(gateway.database).execute("SELECT spec_json FROM yiwang_connector_versions").fetchall()
    assert rows and all(DEMO_API_KEY not in row[0] and "$encrypted" in row[0] for row in rows)  # encrypted at rest


def test_test_reports_the_problems_of_a_broken_spec(running_gateway: RunningGateway, tmp_path: Path) -> None:
    broken = running_gateway.spec_file(tmp_path, {
        "name: deviceName": "name: device_name",  # wrong field path
        "inlet_pressure_mpa: {path: telemetry.inletKpa, type: number, unit: kPa}":
            "inlet_pressure_mpa: {path: telemetry.inletKpa, type: number, unit: MPa}",  # wrong unit
        "crs: EPSG:4548": "crs: CGCS2000",  # wrong coordinate system: metres read as degrees
    })
    result = running_gateway.cli("test", str(broken))
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout
    assert "gas: PROBLEMS FOUND" in output
    assert "unmatched path: name: 'device_name' matched nothing" in output
    assert "department fields not mapped: deviceName" in output
    assert "implausible value: attributes.inlet_pressure_mpa" in output and "MPa is implausible" in output
    assert "out-of-district coordinates: location: outside China after conversion: is crs right?" in output
    assert DEMO_API_KEY not in output + result.stderr

    mislabelled = running_gateway.spec_file(tmp_path, {"areaCode": "gridNo"})  # grid codes where districts belong
    answer = running_gateway.cli("--json", "test", str(mislabelled))
    assert '"invalid code"' in answer.stdout and "region_code" in answer.stdout


def test_invalid_specs_are_refused_with_reasons(running_gateway: RunningGateway, tmp_path: Path) -> None:
    unknown_key = running_gateway.spec_file(tmp_path, {"timeout_s: 5": "timeout_s: 5\nretries: 3"})
    result = running_gateway.cli("validate", str(unknown_key), token=None)
    assert result.returncode == 2 and "retries is not a spec key" in result.stderr
    wrong_dimension = running_gateway.spec_file(tmp_path, {'unit: "%LEL"': "unit: kPa"})
    result = running_gateway.cli("register", str(wrong_dimension))
    assert result.returncode == 2 and "unit 'kPa' is a pressure unit" in result.stderr
    schema = admin(running_gateway, "GET", "/spec-schema.json").json()
    assert schema["additionalProperties"] is False and "operations" in schema["required"]
    openapi = admin(running_gateway, "GET", "/openapi.json").json()
    assert {"/admin/connectors", "/admin/connectors/{department}/rollback"} <= set(openapi["paths"])


def test_only_admins_and_the_departments_operators_may_manage(running_gateway: RunningGateway,
                                                              tmp_path: Path) -> None:
    spec = running_gateway.spec_file(tmp_path)
    for token, status in ((WATER_OPERATOR, 403), (VIEWER, 403)):
        assert admin(running_gateway, "POST", "", token=token, content=spec.read_bytes(),
                     content_type="application/yaml").status_code == status
        assert admin(running_gateway, "POST", "/gas/disable", token=token).status_code == status
    assert httpx.get(f"{running_gateway.url}/admin/connectors").status_code == 401
    denied = running_gateway.cli("register", str(spec), token=WATER_OPERATOR)
    assert denied.returncode == 1 and "FORBIDDEN" in denied.stderr


def test_ssrf_attempts_are_refused(running_gateway: RunningGateway, tmp_path: Path) -> None:
    before = admin(running_gateway, "GET", "")
    assert before.status_code == 200
    for base_url, reason in (("http://169.254.169.254", "link-local or metadata address"),
                             ("http://100.100.100.200", "link-local or metadata address"),
                             (f"http://localhost:{running_gateway.gas_url.rsplit(':', 1)[1]}", "not in the connector"),
                             ("http://10.1.2.3:8080", "not in the connector allowlist"),
                             ("file:///etc/passwd", "base_url must be an http(s) URL")):
        spec = running_gateway.spec_file(tmp_path, {f"base_url: {running_gateway.gas_url}": f"base_url: {base_url}"})
        for action in ("register", "test"):
            result = running_gateway.cli(action, str(spec))
            assert result.returncode != 0 and reason in result.stderr, (base_url, result.stderr)
    with RedirectingDepartment("http://localhost:{target_port}") as trap:
        spec = running_gateway.spec_file(tmp_path, {f"base_url: {running_gateway.gas_url}":
                                                    f"base_url: http://127.0.0.1:{trap.port}"})
        result = running_gateway.cli("test", str(spec))
        assert result.returncode == 1 and "[FAIL] reach" in result.stdout, result.stdout + result.stderr
        assert trap.hits == 0  # the redirect to a host outside the allowlist was never followed
    after = admin(running_gateway, "GET", "")
    assert after.status_code == 200 and after.json()["registered"] == before.json()["registered"]  # nothing new
    for row in after.json()["registered"]:
        history = admin(running_gateway, "GET", f"/{row['department']}/history")
        assert history.status_code == 200 and history.json()["versions"], history.text
        assert all("169.254" not in str(v) and "localhost" not in str(v) for v in history.json()["versions"])
