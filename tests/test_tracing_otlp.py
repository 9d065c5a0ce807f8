"""OTLP export: the gateway sends its spans over OTLP/HTTP (protobuf) to a collector started by the test, which
decodes them."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from gateway.app import create_app
from tests.conftest import NATIONAL_VIEWER, MockDepartments, bearer, gateway_settings

EXPORT_WAIT_S = 10.0
QUERY = ('query Shelters { components(filter: {classCodes: ["0203", "0113"], regionCode: "370811"}, first: 4) '
         '{ nodes { id } } }')


class Collector:
    """An OTLP/HTTP trace receiver: every export request decoded, with its headers."""

    def __init__(self) -> None:
        self.exports: list[tuple[dict[str, str], ExportTraceServiceRequest]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector.exports.append(({k.lower(): v for k, v in self.headers.items()}, request))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self, trace_id: str) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) of every received span of the trace."""
        found = []
        for _, request in list(self.exports):
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found.extend((resource, span) for span in scope_spans.spans if span.trace_id.hex() == trace_id)
        return found


@pytest.fixture
def collector() -> Iterator[Collector]:
    receiver = Collector()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


async def test_spans_are_exported_over_otlp_http(mock_departments: MockDepartments, collector: Collector,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # the batch processor's export interval, ms
    settings = gateway_settings(mock_departments, cache_enabled=False, trace_otlp_endpoint=collector.url,
                                trace_otlp_headers="authorization=Bearer collector-secret",
                                platform_tier="district", platform_region="370811")
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway",
            headers=bearer(*NATIONAL_VIEWER)) as client:
        trace_id = (await client.post("/graphql", json={"query": QUERY})).json()["extensions"]["traceId"]
        deadline = time.monotonic() + EXPORT_WAIT_S
        while not any(span.name == "POST /graphql" for _, span in collector.spans(trace_id)):
            assert time.monotonic() < deadline, "no spans exported while the gateway runs"
            await asyncio.sleep(0.05)
    await app.state.connector_source.aclose()

    received = collector.spans(trace_id)
    names = sorted(span.name for _, span in received)
    assert {"POST /graphql", "graphql.operation Shelters", "graphql.parse", "graphql.validate", "graphql.execute",
            "department.fetch transport", "department.fetch water", "http.fetch"} <= set(names)
    by_id = {span.span_id: span for _, span in received}
    [root] = [span for _, span in received if not span.parent_span_id]
    for _, span in received:
        ancestor = span
        while ancestor.parent_span_id:
            ancestor = by_id[ancestor.parent_span_id]  # every parent arrived too
        assert ancestor is root
    fetch = next(span for _, span in received if span.name == "department.fetch transport")
    attributes = {a.key: a.value for a in fetch.attributes}
    assert attributes["yiwang.department"].string_value == "transport"
    assert attributes["yiwang.items"].int_value > 0
    resource = received[0][0]
    assert resource["service.name"] == "yiwang" and resource["service.version"]
    assert resource["yiwang.platform.tier"] == "district" and resource["yiwang.platform.region"] == "370811"
    assert all(headers["authorization"] == "Bearer collector-secret" for headers, _ in collector.exports)
    assert all(headers["content-type"] == "application/x-protobuf" for headers, _ in collector.exports)
