"""The one place OpenTelemetry is set up: a ``TracerProvider`` per gateway app, from settings.

Resource: service name and version, deployment mode, the platform's tier and region. Sampler: parent-based ratio (an
incoming ``traceparent`` keeps its decision; by default a tenth of new traces in production, every one in the demo:
with the SDK's own tracer, sampling is what keeps tracing's cost under 10 %, docs/performance.md). Processors: the
built-in trace store (an O(1) append at span end), and, when configured, OTLP over HTTP and the console, each behind
a ``BatchSpanProcessor`` so exporting happens on its own thread and never on the request path.

The provider is not installed as the global one: several apps (tests, the benchmark) may live in one process, each
with its own exporters. Spans find their tracer through the app's plugin, and outgoing calls through
``gateway.telemetry.outgoing``.
"""

from __future__ import annotations

from importlib import metadata

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from gateway.exceptions import ConfigurationError
from gateway.settings import Settings
from gateway.telemetry import naming

OTLP_TRACES_PATH = "/v1/traces"
OTLP_TIMEOUT_S = 10.0


def service_version() -> str:
    try:
        return metadata.version("yiwang")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def build_tracer_provider(settings: Settings, *processors: SpanProcessor) -> TracerProvider:
    resource = Resource.create({
        SERVICE_NAME: settings.service_name,
        SERVICE_VERSION: service_version(),
        "deployment.environment.name": settings.mode,
        naming.RESOURCE_TIER: settings.platform_tier,
        naming.RESOURCE_REGION: settings.platform_region,
    })
    provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
                              shutdown_on_exit=False)
    for processor in processors:
        provider.add_span_processor(processor)
    if settings.trace_otlp_endpoint:
        exporter = OTLPSpanExporter(endpoint=otlp_traces_url(settings.trace_otlp_endpoint),
                                    headers=parse_headers(settings.trace_otlp_headers), timeout=OTLP_TIMEOUT_S)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if settings.trace_console:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    return provider


def otlp_traces_url(endpoint: str) -> str:
    """The collector's base URL (as ``OTEL_EXPORTER_OTLP_ENDPOINT``) or its full traces URL, as the traces URL."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(OTLP_TRACES_PATH) else endpoint + OTLP_TRACES_PATH


def parse_headers(text: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in (text or "").split(","):
        name, separator, value = pair.partition("=")
        if not separator or not name.strip():
            if pair.strip():
                raise ConfigurationError(f"YIWANG_TRACE_OTLP_HEADERS: OTLP header {pair.strip()!r} is not name=value")
            continue
        headers[name.strip().lower()] = value.strip()
    return headers
