"""One HTTP seam: a plugin's ``on_fetch`` sees every exchange with a department — GETs and POSTs, of code connectors
(``gateway.departments``) and of registered spec connectors (the registry's guarded clients), the OAuth2 token POSTs
and the lean path's requests alike — and may add headers; ``connectors/`` never imports ``gateway/``."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from connectors.client import Exchange, Proceed
from connectors.records import ComponentQuery
from connectors.spec.model import load_spec
from gateway.app import create_app
from gateway.plugins import Plugin
from gateway.registry.source import RegistrySource
from tests.conftest import MockDepartments, gateway_settings

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "connectors" / "specs"


class Recorder(Plugin):
    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, int]] = []

    async def on_fetch(self, exchange: Exchange, proceed: Proceed) -> httpx.Response:
        exchange.headers["x-recorded-by"] = self.name
        response = await proceed()
        self.seen.append((exchange.department, exchange.method, httpx.URL(exchange.url).path,
                          response.status_code))
        return response


async def test_a_plugins_on_fetch_sees_gets_and_posts_of_code_and_spec_connectors(
        mock_departments: MockDepartments) -> None:
    recorder = Recorder()
    settings = gateway_settings(mock_departments, connector_allowlist="127.0.0.1",
                                secret_key=Fernet.generate_key().decode())
    app = create_app(settings, plugins=[recorder])
    registry = next(source for source in app.state.connector_source.sources if isinstance(source, RegistrySource))
    code = {connector.department_id: connector for connector in app.state.connector_source.current}
    spec_connectors = [registry.make_connector(load_spec(SPECS / f"{name}.yaml").model_copy(update={
        "department": f"spec{name}", "base_url": mock_departments.url(name)})) for name in ("transport", "housing")]
    since = mock_departments.total("water")
    try:
        water = await code["water"].search_components(ComponentQuery(), None, 3)
        assets = await code["transport"].search_components(ComponentQuery(), None, 3)
        await code["transport"].get_components([record.id for record in assets.items])
        await code["housing"].check_health()
        for connector in spec_connectors:
            page = await connector.search_components(ComponentQuery(), None, 3)
            await connector.get_components([record.id for record in page.items])
    finally:
        for connector in [*code.values(), *spec_connectors]:
            await connector.aclose()
    assert water.items
    seen = {(department, method, path) for department, method, path, status in recorder.seen if status == 200}
    assert {("water", "GET", "/api/v1/facilities"), ("transport", "GET", "/v2/assets"),
            ("transport", "POST", "/v2/assets:batchGet"), ("housing", "POST", "/oauth/token"),
            ("housing", "GET", "/api/ping")} <= seen
    assert {("spectransport", "GET"), ("spectransport", "POST"), ("spechousing", "POST"), ("spechousing", "GET")
            } <= {(department, method) for department, method, _ in seen}
    sent = mock_departments.requests_since("water", since)
    assert sent and all(request["headers"].get("x-recorded-by") == "recorder" for request in sent)  # hooks may add


async def test_a_plugin_without_on_fetch_adds_no_hook(mock_departments: MockDepartments) -> None:
    from gateway.departments import fetch_hooks
    from gateway.telemetry.outgoing import trace_fetch

    recorder = Recorder()
    assert fetch_hooks([Plugin(), recorder]) == (trace_fetch, recorder.on_fetch)


def test_connectors_never_import_the_gateway() -> None:
    offenders = []
    for path in sorted((ROOT / "connectors").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {name}" for name in names
                          if name == "gateway" or name.startswith("gateway.")]
    assert offenders == []
