"""The graphql-http server audits (GraphQL over HTTP spec conformance, npm package ``graphql-http``) run by node
against ``yiwang serve`` in production mode, every request carrying the bearer token of a real principal.
Introspection is off for that principal, as for any production caller but a platform_admin.

Every MUST audit (an ``error`` when it fails) and every SHOULD audit (a ``warn``) passes; MAY audits (``notice``)
are reported only. The node side is ``tests/outside/`` (``make outside-deps`` installs it with ``npm ci``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gateway.auth.demo import mint_token
from tests.conftest import MockDepartments
from tests.served import ServedGateway, served_gateway

OUTSIDE = Path(__file__).parent / "outside"
AUDIT_SCRIPT = OUTSIDE / "audit.mjs"
AUDIT_TIMEOUT_S = 120
# The MUST and SHOULD audits of graphql-http 1.23.1 (tests/outside/package-lock.json pins it), one test each; its
# 25 MAY audits are reported only. After an upgrade test_the_pinned_audits_are_the_ones_that_ran names what changed.
REQUIRED_AUDITS = (
    "22EB", "4655", "47DE", "80D8", "82A3", "BF61", "78D5", "2C94", "9ABE", "03D4", "34A2", "13EE", "8161", "B8B3",
    "94B0", "0220", "94B1", "0221", "94B2", "0222", "2EA1", "28B9", "428F", "1B7A", "BCF8", "B7N8", "572B", "FDE2",
    "7B9B", "865D", "556A", "D586", "51FE", "74FF", "5E5B", "86EE",
)
FAILING = ("error", "warn")  # a failed MUST is an error, a failed SHOULD a warning; a failed MAY is a notice


@pytest.fixture(scope="module")
def audits(mock_departments: MockDepartments, tmp_path_factory: pytest.TempPathFactory,
           ) -> dict[str, dict[str, Any]]:
    """Every audit's result, by id, from one node run against one served gateway."""
    token = mint_token("NATIONAL", "000000", ["viewer"], subject="graphql-http-audit")
    with served_gateway(mock_departments, tmp_path_factory.mktemp("audits")) as gateway:
        results = run_audits(gateway, token)
    print("graphql-http server audits:\n" + "\n".join(describe(result) for result in results))
    return {result["id"]: result for result in results}


def run_audits(gateway: ServedGateway, token: str) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node, "node is not installed"
    assert (OUTSIDE / "node_modules" / "graphql-http").is_dir(), "run `make outside-deps` (npm ci in tests/outside)"
    env = {**os.environ, "AUDIT_URL": f"{gateway.url}/graphql", "AUDIT_TOKEN": token}
    done = subprocess.run([node, str(AUDIT_SCRIPT)], cwd=OUTSIDE, env=env, capture_output=True, text=True,
                          timeout=AUDIT_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def describe(result: dict[str, Any]) -> str:
    line = f"{result['status']:6} {result['id']} {result['name']}"
    if result["status"] != "ok":
        response = result.get("response") or {}
        line += (f"\n       {result.get('reason')}; got {response.get('status')} {response.get('contentType')}: "
                 f"{(response.get('body') or '')[:300]}")
    return line


def test_the_pinned_audits_are_the_ones_that_ran(audits: dict[str, dict[str, Any]]) -> None:
    required = {audit_id for audit_id, result in audits.items() if not result["name"].startswith("MAY")}
    assert required == set(REQUIRED_AUDITS)


@pytest.mark.parametrize("audit_id", REQUIRED_AUDITS)
def test_audit(audits: dict[str, dict[str, Any]], audit_id: str) -> None:
    result = audits[audit_id]
    assert result["status"] not in FAILING, describe(result)
