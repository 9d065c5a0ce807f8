"""Tracing: the span tree of a cross-department query (in-memory exporter), trace context carried into the
departments and continued from the caller, the ids and outgoing URLs the spans record, and the current span helpers.
The trace store and metrics are in tests/test_tracing_store.py, the lean tracer in tests/test_tracing_lean.py."""

from __future__ import annotations

import hashlib
import itertools
import re

import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from tests.conftest import MockDepartments, bearer
from tests.tracing_fixtures import (
    ADMIN,
    DEPARTMENTS,
    THREE_DEPARTMENTS,
    by_name,
    children,
    fixture_water_down,  # noqa: F401 (the pytest fixture water_down)
    hex_id,
    lean_provider,
    post,
    traced_gateway,
    traceparent_parts,
)

KNOWN_SPAN_NAMES = re.compile(r"^(POST /graphql|graphql\.operation( \w+)?|graphql\.(parse|validate|execute)|"
                              r"department\.fetch \w+|http\.fetch)$")


# --- the span tree ---------------------------------------------------------------------------------------------
async def test_cross_department_query_is_one_span_tree_with_the_failing_department_marked(
    mock_departments: MockDepartments, water_down: None,
) -> None:
    async with traced_gateway(mock_departments) as (client, exporter, _):
        response = await post(client, THREE_DEPARTMENTS)
    body = response.json()
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UPSTREAM_UNAVAILABLE"}
    assert {n["department"] for n in body["data"]["components"]["nodes"]} <= {"transport", "housing"}

    spans = exporter.get_finished_spans()
    assert all(KNOWN_SPAN_NAMES.match(span.name) for span in spans), [s.name for s in spans]  # no resolver spans
    assert len({span.context.trace_id for span in spans}) == 1
    trace_id = hex_id(spans[0].context.trace_id, 32)
    assert body["extensions"]["traceId"] == trace_id == response.headers["x-trace-id"]

    [root] = [span for span in spans if span.parent is None]
    assert root.name == "POST /graphql" and root.kind is SpanKind.SERVER
    assert root.attributes is not None and root.attributes["http.response.status_code"] == 200
    [operation] = children(spans, root)
    assert operation.name == "graphql.operation Dashboard"
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.name"] == "Dashboard"
    assert operation.attributes["graphql.operation.type"] == "query"
    assert operation.attributes["graphql.document.hash"] == hashlib.sha256(THREE_DEPARTMENTS.encode()).hexdigest()
    assert operation.attributes["yiwang.failed_departments"] == ("water",)
    assert operation.status.status_code is StatusCode.ERROR
    stages = sorted(children(spans, operation), key=lambda s: s.start_time or 0)
    assert [s.name for s in stages] == ["graphql.parse", "graphql.validate", "graphql.execute"]
    for earlier, later in itertools.pairwise(stages):
        assert (earlier.end_time or 0) <= (later.start_time or 0)
    execute = stages[2]

    fetches = children(spans, execute)
    assert fetches and all(f.name.startswith("department.fetch ") for f in fetches)
    assert {f.attributes["yiwang.department"] for f in fetches if f.attributes} == DEPARTMENTS
    for fetch in fetches:
        attributes = fetch.attributes or {}
        department = attributes["yiwang.department"]
        assert fetch.name == f"department.fetch {department}"
        assert attributes["yiwang.operation"] == "search_components"
        assert attributes["yiwang.connector.id"] and attributes["yiwang.connector.version"]
        assert attributes["yiwang.retries"] == 0
        calls = children(spans, fetch)
        assert calls and all(c.name == "http.fetch" and c.kind is SpanKind.CLIENT for c in calls)
        assert attributes["yiwang.http.calls"] == len(calls)
        for call in calls:
            call_attributes = call.attributes or {}
            assert str(call_attributes["url.full"]).startswith(mock_departments.url(str(department)))
            assert call_attributes["http.request.method"] in ("GET", "POST")
        if department == "water":
            assert fetch.status.status_code is StatusCode.ERROR
            assert attributes["yiwang.error.code"] == "UPSTREAM_UNAVAILABLE"
            assert "yiwang.items" not in attributes
            assert {(c.attributes or {})["http.response.status_code"] for c in calls} == {502}
            assert all(c.status.status_code is StatusCode.ERROR for c in calls)
        else:
            assert fetch.status.status_code is StatusCode.UNSET, fetch.status
            assert int(attributes["yiwang.items"]) > 0  # type: ignore[call-overload]
            assert "yiwang.error.code" not in attributes
            assert all((c.attributes or {})["http.response.status_code"] == 200 for c in calls)


async def test_every_department_call_carries_the_trace_to_the_department(mock_departments: MockDepartments) -> None:
    before = {d: mock_departments.total(d) for d in DEPARTMENTS}
    async with traced_gateway(mock_departments) as (client, exporter, _):
        response = await post(client, THREE_DEPARTMENTS)
    trace_id = response.json()["extensions"]["traceId"]
    http_span_ids = {hex_id(s.context.span_id, 16) for s in by_name(exporter.get_finished_spans(), "http.fetch")}
    for department in DEPARTMENTS:
        requests = [r for r in mock_departments.requests_since(department, before[department])
                    if not r["path"].startswith("/oauth")]
        assert requests, department
        for request in requests:
            version, seen_trace_id, parent_id, flags = traceparent_parts(request)
            assert (version, seen_trace_id) == ("00", trace_id) and int(flags, 16) & 1, (department, request)
            assert parent_id in http_span_ids  # the department's parent is the gateway's outgoing-call span


async def test_an_incoming_traceparent_is_continued(mock_departments: MockDepartments) -> None:
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = {"traceparent": f"00-{caller_trace}-{caller_span}-01", "tracestate": "congo=t61rcWkgMzE"}
    before = mock_departments.total("transport")
    async with traced_gateway(mock_departments) as (client, exporter, _):
        response = await post(client, '{ components(filter: {classCodes: ["0203"]}, first: 2) { nodes { id } } }',
                              headers)
    assert response.json()["extensions"]["traceId"] == caller_trace == response.headers["x-trace-id"]
    spans = exporter.get_finished_spans()
    assert {hex_id(s.context.trace_id, 32) for s in spans} == {caller_trace}
    [root] = [s for s in spans if s.name == "POST /graphql"]
    assert root.parent is not None and root.parent.is_remote and hex_id(root.parent.span_id, 16) == caller_span
    [request] = mock_departments.requests_since("transport", before)
    assert traceparent_parts(request)[1] == caller_trace
    assert request["headers"]["tracestate"] == "congo=t61rcWkgMzE"


async def test_a_caller_that_did_not_sample_keeps_its_trace_id_and_records_nothing(
    mock_departments: MockDepartments,
) -> None:
    caller_trace = "0af7651916cd43dd8448eb211c80319c"
    headers = {"traceparent": f"00-{caller_trace}-b7ad6b7169203331-00"}
    before = mock_departments.total("transport")
    async with traced_gateway(mock_departments) as (client, exporter, _):
        response = await post(client, '{ components(filter: {classCodes: ["0203"]}, first: 2) { nodes { id } } }',
                              headers)
        listing = (await client.get("/admin/traces", headers=bearer(*ADMIN))).json()
    assert response.json()["extensions"]["traceId"] == caller_trace
    assert exporter.get_finished_spans() == () and listing["stored"] == 0
    [request] = mock_departments.requests_since("transport", before)
    _, seen_trace_id, _, flags = traceparent_parts(request)
    assert seen_trace_id == caller_trace and not int(flags, 16) & 1


async def test_errors_before_execution_still_carry_the_trace_id(mock_departments: MockDepartments) -> None:
    async with traced_gateway(mock_departments) as (client, exporter, _):
        response = await post(client, "{ components(first: 2) { nodes { id } ")
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert body["extensions"]["traceId"] == response.headers["x-trace-id"]
    [parse] = by_name(exporter.get_finished_spans(), "graphql.parse")
    assert parse.status.status_code is StatusCode.ERROR
    assert by_name(exporter.get_finished_spans(), "graphql.execute") == []


async def test_tracing_off_adds_nothing(mock_departments: MockDepartments) -> None:
    before = mock_departments.total("transport")
    async with traced_gateway(mock_departments, tracing=False) as (client, _, _):
        response = await post(client, '{ components(filter: {classCodes: ["0203"]}, first: 2) { nodes { id } } }')
        admin = await client.get("/admin/traces", headers=bearer(*ADMIN))
    assert "extensions" not in response.json() and "x-trace-id" not in response.headers
    assert admin.status_code == 404
    [request] = mock_departments.requests_since("transport", before)
    assert "traceparent" not in request["headers"]



def test_ids_are_written_as_w3c_trace_context_hex() -> None:
    import random

    from gateway.telemetry.store import format_span_id, format_trace_id

    for trace_id in (1, 2**64, 2**128 - 1, *(random.getrandbits(128) for _ in range(50))):
        assert format_trace_id(trace_id) == format(trace_id, "032x")
    for span_id in (1, 255, 2**64 - 1, *(random.getrandbits(64) for _ in range(50))):
        assert format_span_id(span_id) == format(span_id, "016x")


def test_outgoing_urls_keep_no_credentials() -> None:
    from gateway.telemetry.outgoing import safe_url

    assert safe_url(httpx.URL("https://user:pw@dept.example:8443/api/v1/items?page=2&size=20")) == \
        "https://dept.example:8443/api/v1/items?page=2&size=20"
    assert safe_url(httpx.URL("http://dept.example/a%20b?q=%E4%B8%AD&district=370811%2C370812")) == \
        "http://dept.example/a%20b?q=%E4%B8%AD&district=370811%2C370812"  # as sent
    assert safe_url(httpx.URL("http://dept.example/x?access_token=abc&page=1&apiKey=k&Signature=s&keyword=k")) == \
        "http://dept.example/x?access_token=REDACTED&page=1&apiKey=REDACTED&Signature=REDACTED&keyword=REDACTED"
    assert safe_url(httpx.URL("http://dept.example/x?to%6Ben=abc&q=token")) == \
        "http://dept.example/x?to%6Ben=REDACTED&q=token"  # an escaped name is decoded; a value is not a name
    assert safe_url(httpx.URL("http://dept.example/x?q=secret&sort=key")) == \
        "http://dept.example/x?q=secret&sort=key"  # credential words in values only
    assert safe_url(httpx.URL("http://dept.example/x?page=1&TOKEN=t")) == "http://dept.example/x?page=1&TOKEN=REDACTED"
    assert safe_url(httpx.URL("http://dept.example/plain")) == "http://dept.example/plain"


async def test_an_unsampled_request_records_nothing_and_still_carries_its_trace(
    mock_departments: MockDepartments,
) -> None:
    before = mock_departments.total("transport")
    async with traced_gateway(mock_departments, trace_sample_ratio=0.0) as (client, exporter, _):
        response = await post(client, '{ components(filter: {classCodes: ["0203"]}, first: 2) { nodes { id } } }')
        listing = (await client.get("/admin/traces", headers=bearer(*ADMIN))).json()
    trace_id = response.json()["extensions"]["traceId"]
    assert trace_id == response.headers["x-trace-id"] and exporter.get_finished_spans() == ()
    assert listing["stored"] == 0
    [request] = mock_departments.requests_since("transport", before)
    _, seen_trace_id, _, flags = traceparent_parts(request)
    assert seen_trace_id == trace_id and not int(flags, 16) & 1


@pytest.mark.parametrize("context_variable", [True, False], ids=["ContextVar", "API"])
def test_the_current_span_helpers_share_the_api_context(context_variable: bool) -> None:
    from gateway.telemetry import current

    assert current.use_context_variable(context_variable) is context_variable
    try:
        _check_current_span_helpers()
    finally:
        current.use_context_variable(False)


def _check_current_span_helpers() -> None:
    from opentelemetry import context, trace

    from gateway.telemetry import current

    provider, _ = lean_provider()
    tracer = provider.get_tracer("test")
    assert current.current_span() is trace.get_current_span() is trace.INVALID_SPAN
    outer = tracer.start_span("outer")
    token = current.attach(current.with_span(outer))
    try:
        assert trace.get_current_span() is outer and current.current_span() is outer
        inner = tracer.start_span("inner")  # the SDK finds its parent in the context the helpers set
        assert inner.parent is not None and inner.parent.span_id == outer.get_span_context().span_id
        api_token = context.attach(trace.set_span_in_context(inner))
        assert current.current_span() is inner
        context.detach(api_token)
        base = current.with_span(inner)
        assert trace.get_current_span(base) is inner and trace.get_current_span() is outer
        assert trace.get_current_span(current.with_span(outer, base)) is outer
    finally:
        current.detach(token)
    assert current.current_span() is trace.INVALID_SPAN
