"""Each fast path that relies on another project's internals (gateway/fastpaths.py) against its plain path: the
same requests through a gateway with the path on and off give the same answers and spans; a path that cannot be
used with the installed versions falls back, logged and counted on /metrics; switching is done at app start and
undone by an app built with the path off. ``make test-floor`` runs this file at the lowest versions pyproject.toml
allows."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from graphql.execution import executor, values
from opentelemetry import context as context_api
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from gateway import arguments
from gateway.app import create_app
from gateway.fallbacks import FALLBACKS
from gateway.telemetry import current
from gateway.telemetry.plugin import TelemetryPlugin
from gateway.telemetry.spans import ApiTracer, gateway_tracer, lean_tracer_supported
from tests.conftest import NATIONAL_VIEWER, MockDepartments, bearer, gateway_settings, without_trace_id

# Literal arguments (the arguments fast path), a list long enough for compiled completion (the lists fast path),
# three departments (a dozen spans), an enum, a nested object and a fragment.
DASHBOARD = """query Dashboard { components(filter: {regionCode: "370811", classCodes: ["0113", "0203", "2150"]},
  first: 40) { totalCount nodes { id department componentClass { code majorName } ...Place } } }
fragment Place on Component { name status location { lat lng } }"""
WITH_VARIABLES = ("query Page($first: Int!) { components(filter: {regionCode: \"370812\"}, first: $first) "
                  "{ totalCount nodes { id name department } } }")
TWO_OPERATIONS = ("query First { components(filter: {regionCode: \"370811\"}, first: 1) { totalCount } } "
                  "query Second { components(filter: {regionCode: \"370812\"}, first: 2) { nodes { id } } }")
REQUESTS: list[dict[str, Any]] = [
    {"query": DASHBOARD}, {"query": DASHBOARD},  # the second: arguments from the per-document memo
    {"query": WITH_VARIABLES, "variables": {"first": 25}},
    {"query": TWO_OPERATIONS, "operationName": "Second"},
    {"query": TWO_OPERATIONS},  # no operationName for two operations: an error, whichever path
]
FAST_PATHS = ("fast_path_spans", "fast_path_arguments", "fast_path_lists")


@pytest.fixture(autouse=True)
def plain_paths_restored() -> Iterator[None]:
    """What the default settings switch on, back after each test (the switches are process-wide)."""
    yield
    arguments.install(True)
    current.use_context_variable(False)


@asynccontextmanager
async def gateway_with(mocks: MockDepartments, **switches: bool,
                       ) -> AsyncIterator[tuple[httpx.AsyncClient, InMemorySpanExporter, Starlette]]:
    app = create_app(gateway_settings(mocks, cache_enabled=False, **switches))
    exporter = InMemorySpanExporter()
    telemetry = next(p for p in app.state.plugins if isinstance(p, TelemetryPlugin))
    assert telemetry.provider is not None
    telemetry.provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                     timeout=30, headers=bearer(*NATIONAL_VIEWER)) as client:
            yield client, exporter, app
    finally:
        mocks.reset()
        await app.state.connector_source.aclose()


def span_tree(spans: tuple[ReadableSpan, ...]) -> list[tuple[Any, ...]]:
    """What a trace says, without what differs between two runs (ids, times, the ports of a socket)."""
    by_id = {span.context.span_id: span for span in spans}
    trace_ids = {span.context.trace_id for span in spans}
    assert len(trace_ids) == 1, trace_ids

    def path(span: ReadableSpan) -> tuple[str, ...]:
        parent = span.parent
        return (*(path(by_id[parent.span_id]) if parent is not None and parent.span_id in by_id else ()),
                span.name)

    volatile = ("client.port", "network.peer.port", "server.port", "url.full")
    return sorted((path(span), span.kind.name, span.status.status_code.name, span.status.description,
                   sorted((k, str(v)) for k, v in (span.attributes or {}).items() if k not in volatile),
                   [e.name for e in span.events], span.resource.attributes.get("service.name"),
                   span.instrumentation_scope.name if span.instrumentation_scope else None,
                   span.context.trace_flags.sampled) for span in spans)


async def run(mocks: MockDepartments, **switches: bool) -> tuple[list[Any], list[Any]]:
    async with gateway_with(mocks, **switches) as (client, exporter, _):
        answers, traces = [], []
        for request in REQUESTS:
            exporter.clear()
            response = await client.post("/graphql", json=request)
            answers.append((response.status_code, without_trace_id(response.json())))
            traces.append(span_tree(exporter.get_finished_spans()))
        return answers, traces


@pytest.mark.parametrize("switch", FAST_PATHS)
async def test_each_fast_path_answers_and_traces_as_its_plain_path(mock_departments: MockDepartments,
                                                                   switch: str) -> None:
    fast_answers, fast_traces = await run(mock_departments, **{switch: True})
    plain_answers, plain_traces = await run(mock_departments, **{switch: False})
    assert fast_answers == plain_answers
    assert fast_traces == plain_traces
    dashboard = fast_answers[0][1]["data"]["components"]
    assert dashboard["totalCount"] >= 8 and len(dashboard["nodes"]) >= 8  # long enough for compiled completion
    second = fast_answers[3][1]["data"]["components"]  # the operation named, not the first
    assert list(second) == ["nodes"] and len(second["nodes"]) == 2
    assert "errors" in fast_answers[4][1] and "data" not in fast_answers[4][1]  # which operation? refused
    assert len(fast_traces[0]) >= 8  # request, operation, parse, validate, execute, three department fetches …


async def test_all_fast_paths_together_answer_and_trace_as_none(mock_departments: MockDepartments) -> None:
    fast = await run(mock_departments, **dict.fromkeys(FAST_PATHS, True))
    plain = await run(mock_departments, **dict.fromkeys(FAST_PATHS, False))
    assert fast == plain


async def test_the_switches_are_applied_at_app_start_and_undone(mock_departments: MockDepartments) -> None:
    from gateway.execution import FastListExecutionContext

    refused = fallbacks("spans", "unavailable")
    async with gateway_with(mock_departments, fast_path_spans=True) as (_, _, app):
        telemetry = next(p for p in app.state.plugins if isinstance(p, TelemetryPlugin))
        if lean_tracer_supported():
            from gateway.telemetry.lean import LeanTracer

            assert isinstance(telemetry.tracer, LeanTracer) and fallbacks("spans", "unavailable") == refused
        else:  # an SDK release the lean tracer was not compared with: the SDK's tracer, counted
            assert isinstance(telemetry.tracer, ApiTracer) and fallbacks("spans", "unavailable") == refused + 1
        assert executor.get_argument_values is arguments.get_argument_values
        assert current._CURRENT is not None
        assert issubclass(served_schema(app).execution_context_class, FastListExecutionContext)
    async with gateway_with(mock_departments, **dict.fromkeys(FAST_PATHS, False)) as (_, _, app):
        telemetry = next(p for p in app.state.plugins if isinstance(p, TelemetryPlugin))
        assert isinstance(telemetry.tracer, ApiTracer)
        assert executor.get_argument_values is values.get_argument_values  # graphql-core's own, back
        assert current._CURRENT is None
        assert not issubclass(served_schema(app).execution_context_class, FastListExecutionContext)


def served_schema(app: Any) -> Any:
    """The schema the app's GraphQL view serves (the listener that rebuilds it holds the view)."""
    from gateway.declared_schema import DeclaredTypesSchema

    return next(listener for listener in app.state.connector_source.listeners
                if isinstance(listener, DeclaredTypesSchema)).view.schema


def fallbacks(path: str, reason: str) -> float:
    return FALLBACKS.value(path, reason)


def test_the_lean_tracer_falls_back_to_the_sdk_tracer(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    from gateway.telemetry import spans

    def moved() -> bool:
        raise AttributeError("'Tracer' object has no attribute '_span_limits'")

    monkeypatch.setattr(spans, "lean_tracer_supported", moved)
    before = fallbacks("spans", "unavailable")
    with caplog.at_level(logging.WARNING, "yiwang.fastpaths"):
        tracer = gateway_tracer(TracerProvider(shutdown_on_exit=False), "test", lean=True)
    assert isinstance(tracer, ApiTracer)
    assert fallbacks("spans", "unavailable") == before + 1
    assert "fast path spans unavailable" in caplog.text and "_span_limits" in caplog.text
    span = tracer.start_child(tracer.start_span("root"), "child")
    assert span.is_recording()


def test_the_context_fast_path_falls_back_to_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(context_api, "_RUNTIME_CONTEXT")
    before = fallbacks("spans.context", "unavailable")
    assert current.use_context_variable(True) is False
    assert current._CURRENT is None and fallbacks("spans.context", "unavailable") == before + 1


def test_the_arguments_fast_path_stays_out_when_graphql_core_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    arguments.install(False)

    def someone_elses(*args: Any, **kwargs: Any) -> Any:
        return values.get_argument_values(*args, **kwargs)

    monkeypatch.setattr(executor, "get_argument_values", someone_elses)
    before = fallbacks("arguments", "unavailable")
    assert arguments.install(True) is False
    assert executor.get_argument_values is someone_elses  # not replaced
    assert fallbacks("arguments", "unavailable") == before + 1
    assert arguments.install(False) is False and executor.get_argument_values is someone_elses  # not ours to undo


async def test_lists_the_compiled_completers_cannot_take_are_counted_on_metrics(
        mock_departments: MockDepartments) -> None:
    plannable = "{ components(filter: {regionCode: \"370811\"}, first: 20) { nodes { id name } } }"
    # a field with a resolver and arguments in every item: graphql-core completes the list
    unplannable = ("{ components(filter: {regionCode: \"370811\"}, first: 20) { nodes { id "
                   "events(first: 1) { id } } } }")
    async with gateway_with(mock_departments) as (client, _, _):
        assert "# TYPE yiwang_fast_path_fallbacks_total counter" in (await client.get("/metrics")).text
        before = fallbacks("lists", "unplannable")
        response = await client.post("/graphql", json={"query": plannable})
        assert response.status_code == 200 and len(response.json()["data"]["components"]["nodes"]) == 20
        assert fallbacks("lists", "unplannable") == before  # compiled: nothing counted
        response = await client.post("/graphql", json={"query": unplannable})
        assert response.status_code == 200 and "errors" not in response.json(), response.text
        assert fallbacks("lists", "unplannable") == before + 1
        metrics = (await client.get("/metrics")).text
    assert f'yiwang_fast_path_fallbacks_total{{path="lists",reason="unplannable"}} {before + 1:g}' in metrics


def test_children_of_unsampled_spans_skip_the_sdk_only_when_its_sampler_would_not_record_them() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

    tracer = gateway_tracer(TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.0)), shutdown_on_exit=False), "t")
    assert isinstance(tracer, ApiTracer) and tracer.unsampled_parent_decides
    root = tracer.start_span("root")
    child = tracer.start_child(root, "child")
    grandchild = tracer.start_child(child, "grandchild")
    assert not any(span.is_recording() for span in (root, child, grandchild))
    assert child.get_span_context() == grandchild.get_span_context() == root.get_span_context()
    # A sampler that records below an unsampled parent is asked for every span.
    asked = gateway_tracer(TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.0),
                                                              local_parent_not_sampled=ALWAYS_ON),
                                          shutdown_on_exit=False), "t")
    assert isinstance(asked, ApiTracer) and not asked.unsampled_parent_decides
    root = asked.start_span("root")
    assert not root.is_recording() and asked.start_child(root, "child").is_recording()
