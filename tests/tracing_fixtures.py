"""The traced gateway (an in-memory span exporter on its tracer provider), the queries and the span helpers
shared by the tracing tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.telemetry.plugin import TelemetryPlugin
from gateway.telemetry.spans import lean_tracer_supported
from tests.conftest import NATIONAL_VIEWER, MockDepartments, bearer, gateway_settings

# water (0113 hydrants), transport (0203 bus shelters) and housing (2150 buildings) in one district
THREE_DEPARTMENTS = ("query Dashboard { components(filter: {regionCode: \"370811\", classCodes: [\"0113\", \"0203\", "
                     "\"2150\"]}, first: 6) { totalCount nodes { id department } } }")
DEPARTMENTS = {"water", "transport", "housing"}
ADMIN = ("MUNICIPAL", "370800", "platform_admin")


def trace_settings(mocks: MockDepartments, **overrides: Any) -> Any:
    # The cache would answer repeated department calls from memory; these tests look at the calls themselves.
    return gateway_settings(mocks, cache_enabled=False, **overrides)


@asynccontextmanager
async def traced_gateway(mocks: MockDepartments, **overrides: Any,
                         ) -> AsyncIterator[tuple[httpx.AsyncClient, InMemorySpanExporter, Starlette]]:
    app = create_app(trace_settings(mocks, **overrides))
    exporter = InMemorySpanExporter()
    telemetry = next(p for p in app.state.plugins if isinstance(p, TelemetryPlugin))
    if telemetry.provider is not None:
        telemetry.provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                     timeout=30, headers=bearer(*NATIONAL_VIEWER)) as client:
            yield client, exporter, app
    finally:
        mocks.reset()
        await app.state.connector_source.aclose()


@pytest.fixture(name="water_down")
def fixture_water_down(mock_departments: MockDepartments) -> Iterator[None]:
    mock_departments.set_faults("water", down=True)
    yield
    mock_departments.reset()


async def post(client: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None) -> httpx.Response:
    response = await client.post("/graphql", json={"query": query}, headers=headers or {})
    assert response.status_code == 200, response.text
    return response


def hex_id(value: int, digits: int) -> str:
    return format(value, f"0{digits}x")


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def children(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    return [span for span in spans if span.parent is not None and span.parent.span_id == parent.context.span_id]


def traceparent_parts(request: dict[str, Any]) -> list[str]:
    return str(request["headers"]["traceparent"]).split("-")


# At an SDK release the lean tracer was not compared with, gateway_tracer falls back (tests/test_fast_paths.py).
lean_only = pytest.mark.skipif(not lean_tracer_supported(), reason="the lean tracer refuses this SDK release")


def lean_provider(sampler: Any = None, **limits: Any) -> tuple[Any, InMemorySpanExporter]:
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler, span_limits=SpanLimits(**limits), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter
