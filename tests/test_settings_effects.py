"""Every setting no other test sets, set once here and shown to act, over HTTP or on a served gateway: the housing
system's client credentials, CSRF protection, the replacement class
catalogue, the memory cache's byte budget, how long a persisted query is kept, the webhook's timestamp tolerance and
the service name in exported traces."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.cache.invalidation import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from gateway.settings import Settings
from mocks import housing
from schema.codes import DEFAULT_CATALOGUE_PATH
from tests.clocks import ManualClock, plugins_on_clock
from tests.conftest import NATIONAL_VIEWER, MockDepartments, bearer, gateway_settings
from tests.served import served_gateway

HOUSING_SITES = '{ components(filter: {classCodes: ["0602"], regionCode: "370811"}, first: 2) { totalCount } }'
HYDRANTS = '{ components(filter: {classCodes: ["0113"], regionCode: "370811"}, first: 3) { nodes { id } } }'


@asynccontextmanager
async def gateway(settings: Settings, clock: ManualClock | None = None,
                  headers: dict[str, str] | None = None) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
    app = create_app(settings, plugins=plugins_on_clock(settings, clock) if clock is not None else None)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=30,
                headers=bearer(*NATIONAL_VIEWER) if headers is None else headers) as client:
            yield client, app
    finally:
        await app.state.connector_source.aclose()


async def metric(client: httpx.AsyncClient, line_start: str) -> float:
    text = (await client.get("/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))


# --- YIWANG_HOUSING_CLIENT_ID / YIWANG_HOUSING_CLIENT_SECRET --------------------------------------------------------
@pytest.mark.parametrize("credentials, accepted", [
    ({"housing_client_id": housing.DEMO_CLIENT_ID, "housing_client_secret": housing.DEMO_CLIENT_SECRET}, True),
    ({"housing_client_id": "another-gateway"}, False),
    ({"housing_client_secret": "not-the-secret"}, False),
])
async def test_the_housing_client_credentials_are_what_the_gateway_signs_in_with(
        mock_departments: MockDepartments, credentials: dict[str, str], accepted: bool) -> None:
    async with gateway(gateway_settings(mock_departments, cache_enabled=False, **credentials)) as (client, _):
        body = (await client.post("/graphql", json={"query": HOUSING_SITES})).json()
    if accepted:
        assert "errors" not in body and body["data"]["components"]["totalCount"] > 0, body
    else:
        assert [error["extensions"]["department"] for error in body["errors"]] == ["housing"], body


# --- YIWANG_CSRF_PROTECTION ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("protection", [True, False])
async def test_csrf_protection_refuses_a_simple_cross_site_get_unless_turned_off(protection: bool) -> None:
    settings = Settings(csrf_protection=protection, anonymous="public")
    async with gateway(settings, headers={}) as (client, _):  # no token, no preflight header: what a form can send
        response = await client.get("/graphql", params={"query": "{ __typename }"})
    if protection:
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_REJECTED", response.text
    else:
        assert response.status_code == 200 and response.json()["data"] == {"__typename": "Query"}


# --- YIWANG_CACHE_MEMORY_MAX_BYTES ---------------------------------------------------------------------------------
@pytest.mark.parametrize("budget, hits", [(None, 1), (64, 0)])  # 64 bytes hold no department answer
async def test_the_memory_cache_keeps_only_what_fits_its_byte_budget(
        mock_departments: MockDepartments, budget: int | None, hits: int) -> None:
    sized = {} if budget is None else {"cache_memory_max_bytes": budget}
    settings = gateway_settings(mock_departments, cache_responses=False, **sized)
    async with gateway(settings) as (client, _):
        first = (await client.post("/graphql", json={"query": HYDRANTS})).json()
        second = (await client.post("/graphql", json={"query": HYDRANTS})).json()
        assert first["data"] == second["data"] and "errors" not in first
        assert await metric(client, 'yiwang_cache_fetches_total{connector="water",result="hit"}') == hits


# --- YIWANG_CACHE_APQ_TTL_S ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ttl, kept", [(None, True), (60.0, False)])
async def test_a_persisted_query_is_kept_for_the_apq_ttl(mock_departments: MockDepartments, ttl: float | None,
                                                        kept: bool) -> None:
    import hashlib

    query = "{ departments { id } }"
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}}
    clock = ManualClock()
    settings = gateway_settings(mock_departments, cache_responses=False,
                                **({} if ttl is None else {"cache_apq_ttl_s": ttl}))
    async with gateway(settings, clock) as (client, _):
        registered = (await client.post("/graphql", json={"query": query, "extensions": persisted})).json()
        assert "errors" not in registered
        clock.advance(61)  # past the 60 s TTL, well inside the default day
        by_hash = (await client.post("/graphql", json={"extensions": persisted})).json()
    if kept:
        assert by_hash["data"] == registered["data"]
    else:
        assert [e["extensions"]["code"] for e in by_hash["errors"]] == ["PERSISTED_QUERY_NOT_FOUND"]


# --- YIWANG_CACHE_WEBHOOK_TOLERANCE_S ------------------------------------------------------------------------------
@pytest.mark.parametrize("tolerance, status", [(None, 200), (10.0, 401)])
async def test_the_webhook_accepts_timestamps_within_its_tolerance(
        mock_departments: MockDepartments, tolerance: float | None, status: int) -> None:
    secret = "department-webhook-secret"
    settings = gateway_settings(mock_departments, cache_webhook_secret=secret,
                                **({} if tolerance is None else {"cache_webhook_tolerance_s": tolerance}))
    body = orjson.dumps({"tags": ["class:0113"]})
    timestamp = str(int(time.time()) - 30)  # sent 30 s ago: inside the default 300 s, outside 10 s
    headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body),
               "content-type": "application/json"}
    async with gateway(settings, headers={}) as (client, _):
        response = await client.post("/cache/invalidate", content=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json()["errors"][0]["extensions"]["code"] == "STALE_TIMESTAMP"


# --- YIWANG_CATALOGUE_PATH and YIWANG_SERVICE_NAME, on a served gateway ------------------------------------------
def test_a_served_gateway_uses_the_replacement_catalogue_and_its_service_name(
        mock_departments: MockDepartments, tmp_path: Path) -> None:
    catalogue: dict[str, Any] = json.loads(Path(DEFAULT_CATALOGUE_PATH).read_text(encoding="utf-8"))
    catalogue["componentClasses"]["0113"] = "室外消火栓(本市)"  # this city's name for the hydrant class
    replacement = tmp_path / "catalogue.json"
    replacement.write_text(json.dumps(catalogue, ensure_ascii=False), encoding="utf-8")
    env = {"YIWANG_CATALOGUE_PATH": str(replacement), "YIWANG_SERVICE_NAME": "jining-gateway",
           "YIWANG_TRACE_CONSOLE": "true"}
    with served_gateway(mock_departments, tmp_path, env) as served:
        answer = served.post({"query": "{ componentClasses { code name } }"}, headers=bearer(*NATIONAL_VIEWER))
        names = {c["code"]: c["name"] for c in answer.json()["data"]["componentClasses"]}
        deadline = time.monotonic() + 10
        while '"service.name": "jining-gateway"' not in served.log_text():  # the span is printed once it ends
            assert time.monotonic() < deadline, served.log_text()[-2000:]
            time.sleep(0.05)
    assert names["0113"] == "室外消火栓(本市)" and names["0101"] == catalogue["componentClasses"]["0101"]
