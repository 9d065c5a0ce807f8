"""``TelemetryPlugin``: traces, metrics and structured logs for the whole pipeline, as one plugin.

It must be the outermost plugin: its ``department.fetch`` span is the current span while the plugins inside it run,
so they can add to it (the caching plugin sets ``yiwang.cache``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, StatusCode
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from connectors.spec.connector import DepartmentSkipped
from gateway.exceptions import UpstreamError, YiwangError
from gateway.metrics import MetricsRegistry
from gateway.plugins import Plugin, Proceed, UpstreamFetch
from gateway.settings import Settings
from gateway.telemetry import current, naming
from gateway.telemetry.admin import trace_routes
from gateway.telemetry.failures import record_upstream_error
from gateway.telemetry.logs import configure_json_logging
from gateway.telemetry.measures import (
    OUTCOME_CALLER_ERROR,
    OUTCOME_CANCELLED,
    OUTCOME_ERROR,
    OUTCOME_OK,
    OUTCOME_SKIPPED,
    OperationLabels,
    TelemetryMetrics,
)
from gateway.telemetry.middleware import TracingMiddleware
from gateway.telemetry.operation import operation_extension
from gateway.telemetry.outgoing import HTTP_CALLS
from gateway.telemetry.provider import build_tracer_provider, service_version
from gateway.telemetry.spans import GatewayTracer, gateway_tracer
from gateway.telemetry.store import TraceStore

if TYPE_CHECKING:
    from connectors.base import Connector

logger = logging.getLogger("yiwang.upstream")
FETCH_SPANS_ATTRIBUTE = "_yiwang_fetch_spans"  # on a connector: its department.fetch span names and attributes


class TelemetryPlugin(Plugin):
    name = "telemetry"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = TelemetryMetrics(MetricsRegistry())  # replaced by the app's in register_metrics
        self.store: TraceStore | None = None
        self.provider: TracerProvider | None = None
        self.tracer: GatewayTracer | None = None
        if settings.tracing:
            self.store = TraceStore(settings.trace_store_size)
            self.provider = build_tracer_provider(settings, self.store)
            self.tracer = gateway_tracer(self.provider, naming.TRACER_NAME, service_version(),
                                         lean=settings.fast_path_spans)

    def register_metrics(self, registry: MetricsRegistry) -> None:
        known = [name.strip() for name in (self.settings.metrics_operations or "").split(",") if name.strip()]
        self.metrics = TelemetryMetrics(registry, OperationLabels(known, self.settings.metrics_max_operations))

    def schema_extensions(self) -> list[Any]:
        return [operation_extension(self)]

    def asgi_middleware(self) -> list[Middleware]:
        return [Middleware(TracingMiddleware, tracer=self.tracer)] if self.tracer is not None else []

    def routes(self) -> list[BaseRoute]:
        return trace_routes(self.store) if self.store is not None else []

    async def startup(self) -> None:
        if self.settings.log_format == "json":
            configure_json_logging()

    async def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()  # exports what the batch processors still hold

    async def on_upstream_fetch(self, fetch: UpstreamFetch, proceed: Proceed) -> Any:
        started = time.perf_counter()
        tracer = self.tracer
        span: Span | None = None
        token = None
        calls: list[str] | None = None
        if tracer is not None:
            span = _start_fetch_span(tracer, fetch)
            token = current.enter(span)
            if span.is_recording():
                calls = []  # the outgoing calls note themselves here (to count calls and repeats)
        calls_token = HTTP_CALLS.set(calls)
        result: Any = None
        outcome = OUTCOME_OK
        failure: tuple[str, str] | None = None  # (code, description: an UpstreamError's detail, never for callers)
        upstream_error: UpstreamError | None = None
        try:
            result = await proceed()
            return result
        except UpstreamError as error:
            outcome, failure, upstream_error = OUTCOME_ERROR, (error.code, error.detail), error
            logger.warning("department %s failed: %s [%s]", fetch.department, error.detail, error.cause_name(),
                           extra={"department": fetch.department, "operation": fetch.call.name, "code": error.code})
            raise
        except (YiwangError, NotImplementedError) as error:  # the caller asked what the department cannot give
            outcome = OUTCOME_CALLER_ERROR
            failure = (error.code if isinstance(error, YiwangError) else "NOT_IMPLEMENTED", str(error))
            raise
        except DepartmentSkipped as skipped:  # the department cannot take this filter: left out, named to the caller
            outcome, failure = OUTCOME_SKIPPED, ("SKIPPED", skipped.reason)
            raise
        except asyncio.CancelledError:  # a sibling field failed or the caller left: nobody waits for the answer
            outcome = OUTCOME_CANCELLED
            raise
        except BaseException as exc:  # a bug under a plugin
            outcome, failure = OUTCOME_ERROR, (type(exc).__name__, str(exc) or type(exc).__name__)
            raise
        finally:
            HTTP_CALLS.reset(calls_token)
            if token is not None:
                current.detach(token)
            self.metrics.observe_department_call(fetch.department, fetch.call.name, outcome,
                                                 failure[0] if failure else None, time.perf_counter() - started)
            if span is not None:
                if calls is not None:
                    _end_fetch_span(span, calls, outcome, failure, result)
                    if upstream_error is not None:
                        record_upstream_error(span, upstream_error)
                span.end()


def _start_fetch_span(tracer: GatewayTracer, fetch: UpstreamFetch) -> Span:
    connector = fetch.connector
    spans: dict[str, tuple[str, dict[str, str]]] | None = getattr(connector, FETCH_SPANS_ATTRIBUTE, None)
    operation = fetch.call.name
    described = spans.get(operation) if spans is not None else None
    if described is None:
        described = _describe_fetch(connector, operation, spans)
    name, attributes = described  # the tracers copy the attributes into the span
    return tracer.start_child(current.current_span(), name, attributes=attributes)


def _describe_fetch(connector: Connector, operation: str,
                    spans: dict[str, tuple[str, dict[str, str]]] | None) -> tuple[str, dict[str, str]]:
    """The name and attributes of a connector's ``department.fetch`` span for one operation, kept on the connector:
    what identifies a connector (department, connector id, version) does not change while it lives."""
    department = connector.department_id
    described = (f"{naming.DEPARTMENT_FETCH} {department}", {
        naming.DEPARTMENT: department,
        naming.CONNECTOR_ID: getattr(connector, "connector_id", None) or type(connector).__name__,
        naming.CONNECTOR_VERSION: str(connector.version),
        naming.FETCH_OPERATION: operation,
    })
    if spans is None:
        spans = {}
        try:
            setattr(connector, FETCH_SPANS_ATTRIBUTE, spans)
        except AttributeError:  # a connector with __slots__: described again at every fetch
            return described
    spans[operation] = described
    return described


def _end_fetch_span(span: Span, calls: list[str], outcome: str, failure: tuple[str, str] | None,
                    result: Any) -> None:
    """Only a department's own failure is an error on its span: a cancelled call is marked ``yiwang.cancelled``,
    a call refused for the caller's input carries the caller's code (``yiwang.caller_error.code``), a department
    left out of the answer the reason (``yiwang.skipped``)."""
    attributes: dict[str, Any] = {naming.HTTP_CALLS: len(calls),
                                  naming.RETRIES: len(calls) - len(set(calls))}  # the same request sent again
    items = getattr(result, "items", result)  # a page's items, or the list itself
    if isinstance(items, (list, tuple)):
        attributes[naming.ITEM_COUNT] = len(items)
    if outcome == OUTCOME_CANCELLED:
        attributes[naming.CANCELLED] = True
    elif outcome == OUTCOME_CALLER_ERROR and failure is not None:
        attributes[naming.CALLER_ERROR] = failure[0]
    elif outcome == OUTCOME_SKIPPED and failure is not None:
        attributes[naming.SKIPPED] = failure[1]
    elif failure is not None:
        attributes[naming.ERROR_CODE] = attributes[naming.ERROR_TYPE] = failure[0]
        span.set_status(StatusCode.ERROR, failure[1])
    span.set_attributes(attributes)
