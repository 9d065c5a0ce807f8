"""The HTTP request span: continues an incoming W3C ``traceparent``/``tracestate``, makes the app's tracer the
active one for outgoing department calls, and returns the trace id in the ``x-trace-id`` response header."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.telemetry import current, naming
from gateway.telemetry.outgoing import ACTIVE_TRACER, PROPAGATOR
from gateway.telemetry.spans import GatewayTracer
from gateway.telemetry.store import format_trace_id

# Scrapes, probes, looking at traces and GraphiQL's static assets are not traced.
UNTRACED_PATHS = ("/metrics", "/healthz", "/admin/", "/graphiql/")


class TracingMiddleware:
    def __init__(self, app: ASGIApp, *, tracer: GatewayTracer, untraced_paths: Sequence[str] = UNTRACED_PATHS) -> None:
        self.app = app
        self.tracer = tracer
        self.untraced_paths = tuple(untraced_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(self.untraced_paths):
            await self.app(scope, receive, send)
            return
        parent = self._incoming(scope)
        method: str = scope["method"]
        attributes: dict[str, str] = {naming.HTTP_METHOD: method, naming.URL_PATH: path}
        span = self.tracer.start_span(f"{method} {path}", context=parent, kind=SpanKind.SERVER, attributes=attributes)
        trace_id = format_trace_id(span.get_span_context().trace_id).encode()
        token = current.enter(span)
        tracer_token = ACTIVE_TRACER.set(self.tracer)

        async def send_with_trace_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status: int = message["status"]
                span.set_attribute(naming.HTTP_STATUS, status)
                if status >= 500:
                    span.set_status(StatusCode.ERROR, f"HTTP {status}")
                message = {**message, "headers": [*message.get("headers", []), (naming.TRACE_ID_HEADER.encode(),
                                                                                 trace_id)]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace_id)
        except BaseException as exc:
            span.set_status(StatusCode.ERROR, type(exc).__name__)
            raise
        finally:
            ACTIVE_TRACER.reset(tracer_token)
            current.detach(token)
            span.end()

    @staticmethod
    def _incoming(scope: Scope) -> Context | None:
        """The caller's trace context, if its request carries a ``traceparent`` (``tracestate`` means nothing
        without one)."""
        headers = dict(scope["headers"])  # (in C: a request has a dozen headers, and nearly never a traceparent)
        traceparent = headers.get(b"traceparent")
        if traceparent is None:
            return None
        carrier = {"traceparent": traceparent.decode("latin-1")}
        tracestate = headers.get(b"tracestate")
        if tracestate is not None:
            carrier["tracestate"] = tracestate.decode("latin-1")
        return PROPAGATOR.extract(carrier)
