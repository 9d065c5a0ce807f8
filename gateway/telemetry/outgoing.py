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
from urllib.parse import urlencode

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.telemetry import naming

ACTIVE_TRACER: ContextVar[Tracer | None] = ContextVar("yiwang_active_tracer", default=None)
HTTP_CALLS: ContextVar[list[str] | None] = ContextVar("yiwang_http_calls", default=None)
PROPAGATOR = TraceContextTextMapPropagator()
SECRET_PARAMETER = re.compile(r"token|secret|passw|pwd|key|sig|auth|credential|session", re.IGNORECASE)
REDACTED = "REDACTED"


class TracedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        tracer = ACTIVE_TRACER.get()
        if tracer is None:
            return await self.inner.handle_async_request(request)
        url = safe_url(request.url)
        calls = HTTP_CALLS.get()
        if calls is not None:
            calls.append(f"{request.method} {url}")
        span = tracer.start_span(naming.HTTP_FETCH, kind=SpanKind.CLIENT, attributes={
            naming.HTTP_METHOD: request.method,
            naming.URL_FULL: url,
            naming.SERVER_ADDRESS: request.url.host,
            naming.SERVER_PORT: request.url.port or (443 if request.url.scheme == "https" else 80),
        })
        PROPAGATOR.inject(request.headers, context=trace.set_span_in_context(span))
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as exc:  # also a cancellation: the connector's timeout cancels the call
            span.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
            span.set_attribute(naming.ERROR_TYPE, type(exc).__name__)
            span.end()
            raise
        span.set_attribute(naming.HTTP_STATUS, response.status_code)
        if response.status_code >= 400:
            span.set_status(StatusCode.ERROR, f"HTTP {response.status_code}")
            span.set_attribute(naming.ERROR_TYPE, str(response.status_code))
        span.end()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def safe_url(url: httpx.URL) -> str:
    """The URL without user info and with the values of credential-like query parameters replaced."""
    port = f":{url.port}" if url.port else ""
    base = f"{url.scheme}://{url.host}{port}{url.path}"
    if not url.query:
        return base
    parameters = [(name, REDACTED if SECRET_PARAMETER.search(name) else value)
                  for name, value in url.params.multi_items()]
    return f"{base}?{urlencode(parameters)}"
