"""Observability that blames the right party (issue 17, items 10 and 11), over HTTP: the trace store's JSON at
``/admin/traces``, ``/metrics``, and the stale-if-error answer of the README's "set water down" demo."""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.pagination import CURSOR_KEY_CONTEXT, CURSOR_NONCE_BYTES, CursorCodec, CursorState
from gateway.telemetry.store import union_ns
from tests.clocks import ManualClock, plugins_on_clock
from tests.conftest import NATIONAL_VIEWER, MockDepartments, bearer, gateway_settings

ADMIN = bearer("MUNICIPAL", "370800", "platform_admin")
CURSOR_SECRET = "observability-tests-cursor-secret"
# water (0113 hydrants), transport (0203 bus shelters), housing (2150 buildings): three departments in parallel
THREE = ('query Three { components(filter: {regionCode: "370811", classCodes: ["0113", "0203", "2150"]}, first: 4) '
         '{ totalCount pageInfo { endCursor } nodes { id department } } }')


@asynccontextmanager
async def gateway(mocks: MockDepartments, clock: ManualClock | None = None,
                  **overrides: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
    settings = gateway_settings(mocks, cursor_secret=CURSOR_SECRET, **overrides)
    app = create_app(settings, plugins=plugins_on_clock(settings, clock) if clock is not None else None)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                     timeout=30, headers=bearer(*NATIONAL_VIEWER)) as client:
            yield client, app
    finally:
        mocks.reset()
        await app.state.connector_source.aclose()


async def trace_of(client: httpx.AsyncClient, trace_id: str) -> dict[str, Any]:
    response = await client.get(f"/admin/traces/{trace_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def newest_trace(client: httpx.AsyncClient) -> dict[str, Any]:
    listed = (await client.get("/admin/traces", headers=ADMIN)).json()["traces"]
    graphql = [t for t in listed if t["name"].startswith("POST /graphql")]
    return await trace_of(client, graphql[0]["traceId"])


def fetch_spans(trace: dict[str, Any], department: str | None = None) -> list[dict[str, Any]]:
    return [s for s in trace["spans"] if s["name"].startswith("department.fetch")
            and (department is None or s["attributes"]["yiwang.department"] == department)]


def metric(text: str, line_start: str) -> float:
    found = [line for line in text.splitlines() if line.startswith(line_start + " ")]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


def forged_cursor(cursor: str, department: str, position: str) -> str:
    """The gateway's own cursor with one department's resume position replaced: a position that department refuses
    (what a client cannot make without the cursor secret, but a department can send back itself)."""
    secret = CURSOR_SECRET.encode()
    sealed = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    aead = AESGCM(hashlib.sha256(CURSOR_KEY_CONTEXT + secret).digest())
    raw = orjson.loads(aead.decrypt(sealed[:CURSOR_NONCE_BYTES], sealed[CURSOR_NONCE_BYTES:], CURSOR_KEY_CONTEXT))
    positions = {**raw["p"], department: position}
    return CursorCodec(secret).encode(CursorState(raw["k"], raw["f"], positions, raw["t"]))


# --- cancelled calls ----------------------------------------------------------------------------------------------
async def test_calls_the_caller_abandons_are_cancelled_not_failed_departments(
    mock_departments: MockDepartments,
) -> None:
    async with gateway(mock_departments, cache_enabled=False) as (client, _):
        mock_departments.set_faults("water", latency_ms=3000)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.post("/graphql", json={"query": THREE}), 0.8)
        mock_departments.reset()
        trace = await newest_trace(client)
        text = (await client.get("/metrics")).text
    (water,) = fetch_spans(trace, "water")
    assert water["attributes"]["yiwang.cancelled"] is True and water["status"] != "ERROR"
    assert trace["failedDepartments"] == [] and trace["cancelledDepartments"] == ["water"]
    assert "CancelledError" not in trace["errorCodes"]
    assert metric(text, 'yiwang_department_call_errors_total{department="water",code="CancelledError"}') == 0
    assert metric(text, 'yiwang_department_call_outcomes_total{department="water",outcome="cancelled"}') == 1
    assert metric(text, 'yiwang_department_call_outcomes_total{department="transport",outcome="ok"}') == 1


# --- caller errors ------------------------------------------------------------------------------------------------
async def test_a_call_refused_for_the_callers_input_is_not_a_department_failure(
    mock_departments: MockDepartments,
) -> None:
    async with gateway(mock_departments, cache_enabled=False) as (client, _):
        first = (await client.post("/graphql", json={"query": THREE})).json()
        cursor = forged_cursor(first["data"]["components"]["pageInfo"]["endCursor"], "water", "not-a-position")
        answer = (await client.post("/graphql", json={"query": THREE.replace("first: 4)", "first: 4, after: $a)")
                                                      .replace("query Three", "query Three($a: String)"),
                                                      "variables": {"a": cursor}})).json()
        trace = await trace_of(client, answer["extensions"]["traceId"])
        # a refused root field: FORBIDDEN before any call
        forbidden = (await client.post("/graphql", json={"query": THREE.replace("370811", "370812")},
                                       headers=bearer("DISTRICT", "370811", "viewer"))).json()
        forbidden_trace = await trace_of(client, forbidden["extensions"]["traceId"])
        text = (await client.get("/metrics")).text
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["BAD_USER_INPUT"]
    (water,) = fetch_spans(trace, "water")
    assert water["status"] != "ERROR" and water["attributes"]["yiwang.caller_error.code"] == "BAD_USER_INPUT"
    assert trace["failedDepartments"] == [] and trace["errorCodes"] == ["BAD_USER_INPUT"]
    # any call running beside the refused one is cancelled and ends inside the trace, not after it
    assert all(s["status"] != "ERROR" for s in fetch_spans(trace))
    assert all(s["startMs"] + s["durationMs"] <= trace["durationMs"] + 1e-6 for s in trace["spans"])
    assert [e["extensions"]["code"] for e in forbidden["errors"]] == ["FORBIDDEN"]
    assert forbidden_trace["failedDepartments"] == [] and forbidden_trace["departmentCalls"] == 0
    assert metric(text, 'yiwang_department_call_errors_total{department="water",code="BAD_USER_INPUT"}') == 0
    assert metric(text, 'yiwang_department_call_outcomes_total{department="water",outcome="caller_error"}') == 1
    assert 'outcome="error"' not in "\n".join(line for line in text.splitlines()
                                              if line.startswith("yiwang_department_call_outcomes_total"))


# --- true durations -----------------------------------------------------------------------------------------------
async def test_an_unknown_persisted_query_is_a_short_trace_with_nothing_outliving_it(
    mock_departments: MockDepartments, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    async with gateway(mock_departments) as (client, _):
        response = await client.post("/graphql", json={
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab" * 32}}})
        body = response.json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["PERSISTED_QUERY_NOT_FOUND"]
        trace = await trace_of(client, body["extensions"]["traceId"])
        gc.collect()  # where the abandoned operation hook used to end, in another context
        await asyncio.sleep(0.05)
        again = await trace_of(client, body["extensions"]["traceId"])
    names = [s["name"] for s in trace["spans"]]
    assert names[0] == "POST /graphql" and "graphql.operation" in names
    assert set(names) <= {"POST /graphql", "graphql.operation", "graphql.parse"}
    assert again == trace  # nothing ended later
    request = trace["spans"][0]
    assert all(s["startMs"] + s["durationMs"] <= request["startMs"] + request["durationMs"] for s in trace["spans"])
    assert trace["durationMs"] < 5000 and trace["errorCodes"] == ["PERSISTED_QUERY_NOT_FOUND"]
    assert not [r for r in caplog.records if "Failed to detach context" in r.getMessage()]


async def test_a_departments_header_shows_the_wall_time_of_its_parallel_calls(
    mock_departments: MockDepartments,
) -> None:
    # two aliases of one list: each department is called twice, at once
    query = ('{ a: components(filter: {regionCode: "370811", classCodes: ["0113"]}, first: 3) { totalCount } '
             'b: components(filter: {regionCode: "370812", classCodes: ["0113"]}, first: 3) { totalCount } }')
    async with gateway(mock_departments, cache_enabled=False) as (client, _):
        mock_departments.set_faults("water", latency_ms=300)
        body = (await client.post("/graphql", json={"query": query})).json()
        trace = await trace_of(client, body["extensions"]["traceId"])
    calls = fetch_spans(trace, "water")
    assert len(calls) == 2
    assert min(c["startMs"] + c["durationMs"] for c in calls) > max(c["startMs"] for c in calls)  # overlapping
    times = trace["departmentTimes"]["water"]
    wall = max(c["startMs"] + c["durationMs"] for c in calls) - min(c["startMs"] for c in calls)
    assert times["calls"] == 2 and times["wallMs"] == pytest.approx(wall, abs=0.01)
    assert times["wallMs"] < sum(c["durationMs"] for c in calls) - 250
    assert times["wallMs"] <= trace["durationMs"]


def test_the_union_of_intervals_counts_each_moment_once() -> None:
    assert union_ns([]) == 0
    assert union_ns([(0, 10), (5, 15), (20, 30), (21, 22)]) == 25
    assert union_ns([(5, 15), (0, 10)]) == 15


# --- the README's "set water down" demo ---------------------------------------------------------------------------
async def test_set_water_down_answers_once_per_department_from_the_last_good_answer(
    mock_departments: MockDepartments,
) -> None:
    # The README's first query asks water twice (components, and the components of alerts and cases).
    query = ('{ a: components(filter: {regionCode: "370811", classCodes: ["0113", "0203"]}, first: 3) '
             '{ nodes { id department } } '
             'b: components(filter: {regionCode: "370812", classCodes: ["0113"]}, first: 3) { nodes { id } } }')
    ttls = '{"water.readings": 60, "water.registry": 60}'
    clock = ManualClock()
    async with gateway(mock_departments, clock, cache_ttls=ttls, cache_responses=False) as (client, _):
        fresh = (await client.post("/graphql", json={"query": query})).json()
        assert "errors" not in fresh
        clock.advance(61)
        mock_departments.set_faults("water", down=True)
        stale = (await client.post("/graphql", json={"query": query})).json()
    assert stale["data"] == fresh["data"] and "errors" not in stale
    (mark,) = stale["extensions"]["stale"]
    assert mark["department"] == "water" and mark["ageSeconds"] == pytest.approx(61, abs=0.1)
    assert "water" in mark["message"] and "stale-if-error" in mark["message"]
