"""The outgoing HTTP call to a department: one ``http.fetch`` span per request, and the W3C ``traceparent`` (and
``tracestate``) header that carries the trace into the department system.

``connectors.http.make_client`` wraps every connector's transport in ``TracedTransport``. The transport does not know
the app: the tracing middleware puts the app's tracer in ``ACTIVE_TRACER`` for the request, and the department fetch
span puts a list in ``HTTP_CALLS`` to count the calls (and repeats: retries) it made. Without a tracer the wrapper
just forwards the request.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from urllib.parse import unquote_plus

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.telemetry import naming
from gateway.telemetry.spans import LeanTracer

ACTIVE_TRACER: ContextVar[Tracer | None] = ContextVar("yiwang_active_tracer", default=None)
HTTP_CALLS: ContextVar[list[str] | None] = ContextVar("yiwang_http_calls", default=None)
PROPAGATOR = TraceContextTextMapPropagator()
SECRET_WORDS = r"token|secret|passw|pwd|key|sig|auth|credential|session"
SECRET_WORD = re.compile(SECRET_WORDS)  # in lower-case text: much faster than an IGNORECASE search
REDACTED = "REDACTED"


class TracedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        tracer = ACTIVE_TRACER.get()
        if tracer is None:
            return await self.inner.handle_async_request(request)
        parent = trace.get_current_span()
        if parent.is_recording():
            span = _start(tracer, parent, _attributes(request))
        else:  # an unsampled trace: the span only carries the trace on; no URL to clean up
            span = _start(tracer, parent, None)
            if span.is_recording():  # a sampler that samples below an unsampled parent
                span.set_attributes(_attributes(request))
        # What TraceContextTextMapPropagator.inject writes, without looking the span up in a context again.
        span_context = span.get_span_context()
        request.headers["traceparent"] = (f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
                                          f"{span_context.trace_flags:02x}")
        if span_context.trace_state:
            request.headers["tracestate"] = span_context.trace_state.to_header()
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as exc:  # also a cancellation: the connector's timeout cancels the call
            span.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
            span.set_attribute(naming.ERROR_TYPE, type(exc).__name__)
            span.end()
            raise
        status = response.status_code
        span.set_attribute(naming.HTTP_STATUS, status)
        if status >= 400:
            span.set_status(StatusCode.ERROR, f"HTTP {status}")
            span.set_attribute(naming.ERROR_TYPE, str(status))
        span.end()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _start(tracer: Tracer, parent: trace.Span, attributes: dict[str, str | int] | None) -> trace.Span:
    if type(tracer) is LeanTracer:  # (not isinstance: Tracer is an ABC, its check costs a call)
        return tracer.start_child(parent, naming.HTTP_FETCH, SpanKind.CLIENT, attributes)
    return tracer.start_span(naming.HTTP_FETCH, kind=SpanKind.CLIENT, attributes=attributes)


def _attributes(request: httpx.Request) -> dict[str, str | int]:
    url = request.url
    full_url = safe_url(url)
    calls = HTTP_CALLS.get()
    if calls is not None:
        calls.append(f"{request.method} {full_url}")
    return {naming.HTTP_METHOD: request.method, naming.URL_FULL: full_url, naming.SERVER_ADDRESS: url.host,
            naming.SERVER_PORT: url.port or (443 if url.scheme == "https" else 80)}


def safe_url(url: httpx.URL) -> str:
    """The URL as sent (path and query percent-encoded), without user info, and with the values of
    credential-like query parameters replaced."""
    port = url.port
    base = f"{url.scheme}://{url.host}:{port}" if port else f"{url.scheme}://{url.host}"
    target = url.raw_path.decode("ascii")
    path, _, query = target.partition("?")
    if not query:
        return base + path
    parameters = query.split("&")
    secret = [_is_secret(parameter.partition("=")[0]) for parameter in parameters]
    if not any(secret):
        return base + target  # as sent
    return base + path + "?" + "&".join(f"{parameter.partition('=')[0]}={REDACTED}" if hidden else parameter
                                         for parameter, hidden in zip(parameters, secret, strict=True))


def _is_secret(name: str) -> bool:
    return SECRET_WORD.search((unquote_plus(name) if "%" in name else name).lower()) is not None
