"""Tracing: the trace store's admin API (listing, filters, detail, access, capacity, the trace page), the spans it
keeps against the exporters', and the metrics at /metrics."""

from __future__ import annotations

from typing import Any

from tests.conftest import MockDepartments, bearer
from tests.tracing_fixtures import (
    ADMIN,
    DEPARTMENTS,
    THREE_DEPARTMENTS,
    fixture_water_down,  # noqa: F401 (the pytest fixture water_down)
    hex_id,
    post,
    traced_gateway,
)

SLOW_DEPARTMENT_MS = 400


# --- the trace store --------------------------------------------------------------------------------------------
async def test_trace_store_lists_filters_and_shows_traces_to_platform_admins_only(
    mock_departments: MockDepartments, water_down: None,
) -> None:
    async with traced_gateway(mock_departments) as (client, exporter, _):
        failed = (await post(client, THREE_DEPARTMENTS)).json()["extensions"]["traceId"]
        mock_departments.reset()
        healthy = (await post(client, "query Shelters { components(filter: {classCodes: [\"0203\"]}, first: 3) "
                                      "{ nodes { id } } }")).json()["extensions"]["traceId"]

        async def listing(**params: Any) -> list[str]:
            response = await client.get("/admin/traces", params=params, headers=bearer(*ADMIN))
            assert response.status_code == 200, response.text
            return [t["traceId"] for t in response.json()["traces"]]

        assert await listing() == [healthy, failed]  # newest first
        assert await listing(errors="true") == [failed]
        assert await listing(department="water") == [failed]
        assert await listing(department="transport") == [healthy, failed]
        assert await listing(department="environment") == []
        assert await listing(operation="shelt") == [healthy]
        assert await listing(minDurationMs="60000") == []
        mock_departments.set_faults("transport", latency_ms=SLOW_DEPARTMENT_MS)  # the mock sleeps before answering
        try:
            slow = (await post(client, "query Slow { components(filter: {classCodes: [\"0203\"]}, first: 4) "
                                       "{ nodes { id } } }")).json()["extensions"]["traceId"]
        finally:
            mock_departments.set_faults("transport")
        timed = (await client.get("/admin/traces", headers=bearer(*ADMIN))).json()["traces"]
        durations = {t["traceId"]: t["durationMs"] for t in timed}
        assert durations[slow] >= SLOW_DEPARTMENT_MS
        bound = str(SLOW_DEPARTMENT_MS)
        assert await listing(minDurationMs=bound) == [t for t in durations if durations[t] >= SLOW_DEPARTMENT_MS]
        assert slow in await listing(minDurationMs=bound)
        assert await listing(minDurationMs=bound, operation="Slow") == [slow]
        everything = (await client.get("/admin/traces", headers=bearer(*ADMIN))).json()["traces"]
        slowest = await listing(sort="slowest")
        assert slowest == [t["traceId"] for t in sorted(everything, key=lambda t: -t["durationMs"])]

        summary = next(t for t in everything if t["traceId"] == failed)
        assert summary["operationName"] == "Dashboard" and summary["operationType"] == "query"
        assert summary["error"] is True and summary["errorCodes"] == ["UPSTREAM_UNAVAILABLE"]
        assert set(summary["departments"]) == DEPARTMENTS and summary["failedDepartments"] == ["water"]
        assert summary["durationMs"] > 0 and summary["name"] == "POST /graphql"

        detail = (await client.get(f"/admin/traces/{failed}", headers=bearer(*ADMIN))).json()
        exported = [s for s in exporter.get_finished_spans() if hex_id(s.context.trace_id, 32) == failed]
        assert {s["spanId"] for s in detail["spans"]} == {hex_id(s.context.span_id, 16) for s in exported}
        water = [s for s in detail["spans"] if s["attributes"].get("yiwang.department") == "water"]
        assert water and all(s["status"] == "ERROR" for s in water)
        assert all(s["startMs"] >= 0 and s["durationMs"] >= 0 for s in detail["spans"])

        viewer = await client.get("/admin/traces")  # the client's default token: a national viewer
        anonymous = await client.get(f"/admin/traces/{failed}", headers={"authorization": ""})
        unknown = await client.get(f"/admin/traces/{'0' * 31}1", headers=bearer(*ADMIN))
        malformed = await client.get("/admin/traces/not-a-trace", headers=bearer(*ADMIN))
        bad_filter = await client.get("/admin/traces", params={"minDurationMs": "slow"}, headers=bearer(*ADMIN))
    assert viewer.status_code == 403 and viewer.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert unknown.status_code == 404 and malformed.status_code == 400 and bad_filter.status_code == 400
    assert bad_filter.json()["errors"][0]["extensions"]["argument"] == "minDurationMs"


async def test_trace_store_keeps_only_the_last_traces(mock_departments: MockDepartments) -> None:
    query = '{ components(filter: {classCodes: ["0203"]}, first: 1) { nodes { id } } }'
    async with traced_gateway(mock_departments, trace_store_size=2) as (client, _, _):
        ids = [(await post(client, query)).json()["extensions"]["traceId"] for _ in range(3)]
        listing = (await client.get("/admin/traces", headers=bearer(*ADMIN))).json()
        oldest = await client.get(f"/admin/traces/{ids[0]}", headers=bearer(*ADMIN))
    assert [t["traceId"] for t in listing["traces"]] == ids[:0:-1]
    assert listing["stored"] == listing["capacity"] == 2 and oldest.status_code == 404


async def test_the_trace_page_is_served_without_data(mock_departments: MockDepartments) -> None:
    async with traced_gateway(mock_departments) as (client, _, _):
        page = await client.get("/admin/tracing", headers={"authorization": ""})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/admin/traces" in page.text and "Bearer " in page.text


async def test_the_store_keeps_the_spans_the_exporters_get(mock_departments: MockDepartments) -> None:
    async with traced_gateway(mock_departments) as (client, exporter, _):
        trace_id = (await post(client, THREE_DEPARTMENTS)).json()["extensions"]["traceId"]
        detail = (await client.get(f"/admin/traces/{trace_id}", headers=bearer(*ADMIN))).json()
    exported = {hex_id(s.context.span_id, 16): s for s in exporter.get_finished_spans()}
    assert len(detail["spans"]) == len(exported) >= 11
    for stored in detail["spans"]:
        span = exported[stored["spanId"]]
        assert stored["name"] == span.name and stored["kind"] == span.kind.name
        assert stored["parentSpanId"] == (hex_id(span.parent.span_id, 16) if span.parent else None)
        assert stored["attributes"] == {k: list(v) if isinstance(v, tuple) else v
                                        for k, v in (span.attributes or {}).items()}
        assert stored["durationMs"] == ((span.end_time or 0) - (span.start_time or 0)) / 1e6


# --- metrics ----------------------------------------------------------------------------------------------------
def metric_value(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_operations_and_department_calls_by_outcome(
    mock_departments: MockDepartments, water_down: None,
) -> None:
    async with traced_gateway(mock_departments) as (client, _, _):
        await post(client, THREE_DEPARTMENTS)
        await post(client, THREE_DEPARTMENTS)
        await post(client, "query Shelters { components(filter: {classCodes: [\"0203\"]}, first: 1) { nodes { id } } }")
        text = (await client.get("/metrics")).text
    assert metric_value(text, "yiwang_graphql_requests_total", operation="Dashboard", type="query",
                        outcome="error") == 2
    assert metric_value(text, "yiwang_graphql_requests_total", operation="Shelters", type="query", outcome="ok") == 1
    assert metric_value(text, "yiwang_graphql_request_duration_seconds_count", operation="Dashboard") == 2
    assert metric_value(text, "yiwang_graphql_request_duration_seconds_bucket", operation="Dashboard",
                        le="+Inf") == 2
    water_calls = metric_value(text, "yiwang_department_calls_total", department="water",
                               operation="search_components")
    assert water_calls >= 2
    assert metric_value(text, "yiwang_department_call_errors_total", department="water",
                        code="UPSTREAM_UNAVAILABLE") == water_calls
    assert metric_value(text, "yiwang_department_calls_total", department="transport",
                        operation="search_components") >= 3
    assert metric_value(text, "yiwang_department_call_errors_total", department="transport",
                        code="UPSTREAM_UNAVAILABLE") == 0
    assert metric_value(text, "yiwang_department_call_duration_seconds_count", department="housing",
                        operation="search_components") >= 2
