"""The registry on SQLite and on the real PostgreSQL (a schema per run, dropped after): every change a version with
author, time and diff; rollback; disable/enable. Two gateway instances on one PostgreSQL: a registration on one is
served by the other within 5 s, and a steady query load across the switch sees no failed request."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from cryptography.fernet import Fernet
from starlette.applications import Starlette

from gateway.app import create_app
from mocks.gas import DEMO_API_KEY
from tests.conftest import MockDepartments, gateway_settings
from tests.test_registry import ADMIN, GAS_OPERATOR, GAS_PORT_OFFSET, GAS_SPEC

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HOT_RELOAD_LIMIT_S = 5.0
LOAD_CONCURRENCY = 4
GAS_QUERY = '{ components(filter: {classCodes: ["0135"]}, first: 2) { totalCount nodes { id department } } }'
WATER_QUERY = '{ components(filter: {classCodes: ["0113"], regionCode: "370811"}, first: 3) { totalCount } }'


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    schema = f"yiwang_test_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "sqlite":
        return {"database_url": f"sqlite:///{tmp_path / 'registry.sqlite3'}"}
    schema = request.getfixturevalue("postgres_schema")
    return {"database_url": POSTGRES_URL, "database_schema": schema}


def gas_spec(mocks: MockDepartments, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(GAS_SPEC.read_text(encoding="utf-8"))
    document["base_url"] = f"http://127.0.0.1:{mocks.base_port + GAS_PORT_OFFSET}"
    document.update(changes)
    return document


async def started_gateway(stack: AsyncExitStack, mocks: MockDepartments, key: str, **overrides: Any,
                          ) -> httpx.AsyncClient:
    client, _ = await started_app(stack, mocks, key, **overrides)
    return client


async def started_app(stack: AsyncExitStack, mocks: MockDepartments, key: str, **overrides: Any,
                      ) -> tuple[httpx.AsyncClient, Starlette]:
    settings = gateway_settings(mocks, secret_key=key, connector_allowlist="127.0.0.1", cache_enabled=False,
                                registry_drain_s=1.0, **overrides)
    app: Starlette = create_app(settings)
    await stack.enter_async_context(app.router.lifespan_context(app))
    client = await stack.enter_async_context(httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=30,
        headers={"authorization": f"Bearer {ADMIN}"}))
    return client, app


async def eventually(condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Wait for an observable condition, not for a time that hopes it came true."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        await asyncio.sleep(0.02)


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def test_every_change_is_a_version_with_rollback_and_disable(
        database: dict[str, Any], mock_departments: MockDepartments, stack: AsyncExitStack) -> None:
    client = await started_gateway(stack, mock_departments, Fernet.generate_key().decode(), **database)
    operator = {"authorization": f"Bearer {GAS_OPERATOR}"}
    first = await client.post("/admin/connectors", json=gas_spec(mock_departments), headers=operator)
    assert first.status_code == 201, first.text
    renamed = await client.post("/admin/connectors", json=gas_spec(mock_departments, name="港华燃气 Gas"))
    assert renamed.json()["version"] == 2 and renamed.json()["diff"] == [
        {"path": "spec.name", "old": "燃气 Gas supply", "new": "港华燃气 Gas"}]
    rotated = gas_spec(mock_departments)
    rotated["auth"]["key"] = "rotated-key-do-not-show"
    assert (await client.post("/admin/connectors", json=rotated)).json()["diff"] == [
        {"path": "secrets.auth.key", "old": "(previous)", "new": "(changed)"},
        {"path": "spec.name", "old": "港华燃气 Gas", "new": "燃气 Gas supply"}]
    assert await department_names(client) == {"gas": "燃气 Gas supply"}
    failing = await client.post("/graphql", json={"query": GAS_QUERY})
    assert failing.json()["errors"][0]["extensions"]["department"] == "gas"  # the gas company refuses that key
    rotated_version = await fetch_span_version(client, failing.json(), "gas")

    rolled = await client.post("/admin/connectors/gas/rollback", json={"version": 2})
    assert rolled.json()["version"] == 4 and rolled.json()["rolled_back_to"] == 2
    assert await department_names(client) == {"gas": "港华燃气 Gas"}
    served = (await client.post("/graphql", json={"query": GAS_QUERY})).json()
    assert "errors" not in served and served["data"]["components"]["totalCount"] == 80  # v2's key works again
    rolled_back_version = await fetch_span_version(client, served, "gas")
    assert rolled_back_version.startswith("spec-") and rolled_back_version != rotated_version  # traces follow

    disabled = await client.post("/admin/connectors/gas/disable", headers=operator)
    assert disabled.json()["enabled"] is False
    assert await department_names(client) == {}
    await client.post("/admin/connectors/gas/enable")
    history = (await client.get("/admin/connectors/gas/history")).json()["versions"]
    assert [(v["version"], v["action"], v["enabled"], v["author"]) for v in history] == [
        (1, "register", True, "gas-it-wang"), (2, "update", True, "admin-li"), (3, "update", True, "admin-li"),
        (4, "rollback", True, "admin-li"), (5, "disable", False, "gas-it-wang"), (6, "enable", True, "admin-li")]
    assert history[4]["diff"] == [{"path": "enabled", "old": True, "new": False}]
    assert all(v["created_at"] for v in history)
    assert await department_names(client) == {"gas": "港华燃气 Gas"}
    shown_response = await client.get("/admin/connectors/gas")
    assert shown_response.status_code == 200
    shown = shown_response.text
    assert "rotated-key-do-not-show" not in shown and DEMO_API_KEY not in shown and "**********" in shown
    assert (await client.post("/admin/connectors/gas/rollback", json={"version": 99})).status_code == 404


async def fetch_span_version(client: httpx.AsyncClient, answer: dict[str, Any], department: str) -> str:
    """The connector version on the department.fetch span of an answered query, from the trace store."""
    trace = (await client.get(f"/admin/traces/{answer['extensions']['traceId']}")).json()
    versions = {span["attributes"]["yiwang.connector.version"] for span in trace["spans"]
                if span["attributes"].get("yiwang.department") == department
                and span["name"].startswith("department.fetch")}
    assert len(versions) == 1, trace
    return str(versions.pop())


async def department_names(client: httpx.AsyncClient) -> dict[str, str]:
    answer = (await client.post("/graphql", json={"query": "{ departments { id name } }"})).json()
    return {d["id"]: d["name"] for d in answer["data"]["departments"] if d["id"] == "gas"}


async def test_two_instances_on_postgres_hot_reload_under_load(
        postgres_schema: str, mock_departments: MockDepartments, stack: AsyncExitStack) -> None:
    key = Fernet.generate_key().decode()
    database = {"database_url": POSTGRES_URL, "database_schema": postgres_schema, "registry_poll_s": 30.0}
    first = await started_gateway(stack, mock_departments, key, **database)
    second, second_app = await started_app(stack, mock_departments, key, **database)  # polls rarely: NOTIFY wakes it
    failures: list[Any] = []
    answers = 0
    gas_seen = asyncio.Event()
    stop = asyncio.Event()

    async def steady_load() -> None:
        nonlocal answers
        while not stop.is_set():
            for query in (WATER_QUERY, GAS_QUERY):
                response = await second.post("/graphql", json={"query": query})
                body = response.json()
                answers += 1
                if response.status_code != 200 or "errors" in body:
                    failures.append(body)
                elif query == GAS_QUERY and body["data"]["components"]["totalCount"] == 80:
                    gas_seen.set()

    async def load_under_way() -> bool:
        return answers >= 2 * LOAD_CONCURRENCY  # a round of both queries per worker, before the change

    load = [asyncio.create_task(steady_load()) for _ in range(LOAD_CONCURRENCY)]
    try:
        await eventually(load_under_way, HOT_RELOAD_LIMIT_S, "the load under way")
        before = (await second.post("/graphql", json={"query": GAS_QUERY})).json()
        assert before["data"]["components"]["totalCount"] == 0
        registered_at = time.monotonic()
        response = await first.post("/admin/connectors", json=gas_spec(mock_departments))
        assert response.status_code == 201, response.text
        await asyncio.wait_for(gas_seen.wait(), HOT_RELOAD_LIMIT_S)
        switched_after = time.monotonic() - registered_at
        # A change replaces the gas connector: the load goes on across the drain of the one it replaced, which
        # requests started before the change still use, until that connector has been closed.
        replaced = second_app.state.connector_source.current.get("gas")
        assert replaced is not None
        renamed = await first.post("/admin/connectors", json=gas_spec(mock_departments, name="港华燃气 Gas"))
        assert renamed.status_code == 201, renamed.text

        async def renamed_on_second() -> bool:
            return await department_names(second) == {"gas": "港华燃气 Gas"}

        async def replaced_closed() -> bool:
            return bool(replaced.client.is_closed)

        await eventually(renamed_on_second, HOT_RELOAD_LIMIT_S, "the change served by the second instance")
        assert not replaced.client.is_closed  # still draining: requests that started on it may be running
        await eventually(replaced_closed, HOT_RELOAD_LIMIT_S, "the replaced connector closed after its drain")
    finally:
        stop.set()
        await asyncio.gather(*load)
    assert failures == []
    assert answers > 20
    assert switched_after < HOT_RELOAD_LIMIT_S
    served = (await second.post("/graphql", json={"query": GAS_QUERY})).json()
    assert served["data"]["components"]["nodes"][0]["department"] == "gas"
