"""`yiwang connectors rollback / disable / enable` as an operator runs them: the CLI in a subprocess against a served
gateway with a registry of its own, each command's effect read back over GraphQL and in the CLI's own output."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MockDepartments
from tests.served import registry_env, served_gateway
from tests.test_registry import ADMIN, GAS_OPERATOR, GAS_PORT_OFFSET, REPO, RunningGateway, graphql

STATIONS = '{ components(filter: {classCodes: ["0135"]}, first: 1) { totalCount } }'
RENAMED = "港华燃气 Gas"


@pytest.fixture
def own_gateway(mock_departments: MockDepartments, tmp_path: Path) -> Iterator[RunningGateway]:
    """A served gateway whose registry only this test changes."""
    with served_gateway(mock_departments, tmp_path, registry_env(tmp_path), cwd=REPO) as served:
        yield RunningGateway(served.url, served.log_path, tmp_path / "registry.sqlite3",
                             f"http://127.0.0.1:{mock_departments.base_port + GAS_PORT_OFFSET}")


def gas_name(gateway: RunningGateway) -> str | None:
    departments: list[dict[str, Any]] = graphql(gateway, "{ departments { id name } }")["data"]["departments"]
    return next((d["name"] for d in departments if d["id"] == "gas"), None)


def run_ok(gateway: RunningGateway, *args: str, token: str = ADMIN) -> str:
    result = gateway.cli(*args, token=token)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_rollback_disable_and_enable_through_the_cli(own_gateway: RunningGateway, tmp_path: Path) -> None:
    gateway = own_gateway
    run_ok(gateway, "register", str(gateway.spec_file(tmp_path)), token=GAS_OPERATOR)
    renamed = gateway.spec_file(tmp_path, {"name: 燃气 Gas supply": f"name: {RENAMED}"})
    updated = run_ok(gateway, "register", str(renamed))
    assert updated.startswith("gas version 2 (update, enabled) by admin-li")
    assert gas_name(gateway) == RENAMED

    rolled = run_ok(gateway, "rollback", "gas", "1")
    assert rolled.startswith("gas version 3 (rollback, enabled) by admin-li")
    assert f'spec.name: "{RENAMED}" → "燃气 Gas supply"' in rolled
    assert gas_name(gateway) == "燃气 Gas supply"  # served at once

    disabled = run_ok(gateway, "disable", "gas", token=GAS_OPERATOR)
    assert disabled.startswith("gas version 4 (disable, disabled) by gas-it-wang")
    assert gas_name(gateway) is None
    assert graphql(gateway, STATIONS)["data"]["components"]["totalCount"] == 0  # nobody serves 0135 now
    listed = run_ok(gateway, "list")
    assert re.search(r"^gas\s+spec v4\s+disabled\s+inactive\s", listed, re.MULTILINE), listed

    enabled = run_ok(gateway, "enable", "gas")
    assert enabled.startswith("gas version 5 (enable, enabled) by admin-li")
    assert gas_name(gateway) == "燃气 Gas supply"
    assert graphql(gateway, STATIONS)["data"]["components"]["totalCount"] > 0
    history = run_ok(gateway, "history", "gas")
    actions = [line.split()[2:4] for line in history.splitlines() if line.startswith("v")]
    assert actions == [["register", "enabled"], ["update", "enabled"], ["rollback", "to"], ["disable", "disabled"],
                       ["enable", "enabled"]], history
    assert "to version 1" in history


def test_a_rollback_to_a_version_that_does_not_exist_fails_with_the_gateways_reason(
        own_gateway: RunningGateway, tmp_path: Path) -> None:
    run_ok(own_gateway, "register", str(own_gateway.spec_file(tmp_path)))
    missing = own_gateway.cli("rollback", "gas", "99")
    assert missing.returncode == 1 and missing.stderr.startswith("yiwang connectors rollback: NOT_FOUND"), missing
    assert gas_name(own_gateway) == "燃气 Gas supply"  # nothing changed
