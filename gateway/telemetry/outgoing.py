"""The outgoing HTTP call to a department: one ``http.fetch`` span per request, and the W3C ``traceparent`` (and
``tracestate``) header that carries the trace into the department system.

``trace_fetch`` is a fetch hook of ``connectors.client.DepartmentClient`` (the one place every department exchange
passes, whichever bottom sends it); ``gateway.departments.fetch_hooks`` installs it on every connector's client.
The hook does not know the app: the tracing middleware puts the app's tracer in ``ACTIVE_TRACER`` for the request,
and the department fetch span puts a list in ``HTTP_CALLS`` to count the calls (and repeats: retries) it made.
Without a tracer the hook just lets the exchange proceed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableMapping
from contextvars import ContextVar
from functools import lru_cache
from urllib.parse import unquote_plus

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from connectors.client import Exchange, Proceed
from gateway.telemetry import current, naming
from gateway.telemetry.spans import GatewayTracer
from gateway.telemetry.store import format_span_id, format_trace_id

ACTIVE_TRACER: ContextVar[GatewayTracer | None] = ContextVar("yiwang_active_tracer", default=None)
HTTP_CALLS: ContextVar[list[str] | None] = ContextVar("yiwang_http_calls", default=None)
PROPAGATOR = TraceContextTextMapPropagator()
SECRET_WORDS = r"token|secret|passw|pwd|key|sig|auth|credential|session"
SECRET_WORD = re.compile(SECRET_WORDS)  # in lower-case text: much faster than an IGNORECASE search
PARAMETER_NAME = re.compile(r"(?:^|&)([^=&]*)")
REDACTED = "REDACTED"
FLAGS_HEX = tuple(f"{flags:02x}" for flags in range(256))  # trace flags are one byte
MAX_REMEMBERED_NAMES = 4096
MAX_REMEMBERED_TARGETS = 1024  # http.fetch span attributes kept per method and URL


async def trace_fetch(exchange: Exchange, proceed: Proceed) -> httpx.Response:
    """The fetch hook: the exchange as an ``http.fetch`` span, its context in the ``traceparent`` header."""
    tracer = ACTIVE_TRACER.get()
    if tracer is None:
        return await proceed()
    span = start_fetch_span(tracer, exchange.method, exchange.url, fetch_attributes_of)
    add_trace_headers(span, exchange.headers)
    try:
        response = await proceed()
    except BaseException as exc:  # also a cancellation: the connector's timeout cancels the call
        end_failed_fetch_span(span, exc)
        raise
    end_fetch_span(span, response.status_code)
    return response


def start_fetch_span(tracer: GatewayTracer, method: str, url: str,
                     attributes_of: Callable[[str, str], Mapping[str, str | int]]) -> trace.Span:
    """The ``http.fetch`` span of one outgoing request to ``url`` (as sent), under the current span. The call is
    noted for the department fetch span (to count calls and repeats: retries); ``attributes_of(method, url)`` is
    called only for a recorded span (an unsampled trace's span just carries the trace on: no URL to clean up), and
    the mapping it returns is copied, never changed."""
    calls = HTTP_CALLS.get()
    if calls is not None:
        calls.append(f"{method} {url}")
    parent = current.current_span()
    if parent.is_recording():
        return tracer.start_child(parent, naming.HTTP_FETCH, SpanKind.CLIENT, attributes_of(method, url))
    span = tracer.start_child(parent, naming.HTTP_FETCH, SpanKind.CLIENT)
    if span.is_recording():  # a sampler that samples below an unsampled parent
        span.set_attributes(attributes_of(method, url))
    return span


def add_trace_headers(span: trace.Span, headers: MutableMapping[str, str]) -> None:
    """What TraceContextTextMapPropagator.inject writes, without looking the span up in a context again."""
    trace_id, span_id, _, flags, trace_state, _ = span.get_span_context()  # a SpanContext is this tuple
    headers["traceparent"] = f"00-{format_trace_id(trace_id)}-{format_span_id(span_id)}-{FLAGS_HEX[flags]}"
    if trace_state:
        headers["tracestate"] = trace_state.to_header()


def end_fetch_span(span: trace.Span, status: int) -> None:
    span.set_attribute(naming.HTTP_STATUS, status)
    if status >= 400:
        span.set_status(StatusCode.ERROR, f"HTTP {status}")
        span.set_attribute(naming.ERROR_TYPE, str(status))
    span.end()


def end_failed_fetch_span(span: trace.Span, error: BaseException) -> None:
    span.set_status(StatusCode.ERROR, f"{type(error).__name__}: {error}")
    span.set_attribute(naming.ERROR_TYPE, type(error).__name__)
    span.end()


def fetch_attributes(method: str, full_url: str, host: str, port: int) -> dict[str, str | int]:
    """The ``http.fetch`` attributes."""
    return {naming.HTTP_METHOD: method, naming.URL_FULL: full_url, naming.SERVER_ADDRESS: host,
            naming.SERVER_PORT: port}


@lru_cache(maxsize=MAX_REMEMBERED_TARGETS)
def fetch_attributes_of(method: str, url: str) -> dict[str, str | int]:
    """The ``http.fetch`` attributes of a request to ``url`` (as sent), kept per method and URL: a connector sends
    the same few requests again and again, and cleaning a URL of credentials is the costly part. The mapping is
    shared: never change it (``start_fetch_span`` copies it)."""
    parsed = httpx.URL(url)
    return fetch_attributes(method, safe_url(parsed), parsed.host,
                            parsed.port or (443 if parsed.scheme == "https" else 80))


def safe_url(url: httpx.URL) -> str:
    """The URL as sent (path and query percent-encoded), without user info, and with the values of
    credential-like query parameters replaced."""
    port = url.port
    base = f"{url.scheme}://{url.host}:{port}" if port else f"{url.scheme}://{url.host}"
    return base + safe_target(url.raw_path.decode("ascii"))


def safe_target(target: str) -> str:
    """A request target (percent-encoded path and query) with the values of credential-like parameters replaced."""
    path, _, query = target.partition("?")
    if not query:
        return path
    if not any(map(_is_secret, PARAMETER_NAME.findall(query))):  # (in C: no Python loop per parameter)
        return target  # as sent
    return path + "?" + "&".join(f"{parameter.partition('=')[0]}={REDACTED}"
                                 if _is_secret(parameter.partition("=")[0]) else parameter
                                 for parameter in query.split("&"))


@lru_cache(maxsize=MAX_REMEMBERED_NAMES)
def _is_secret(name: str) -> bool:
    """Whether a query parameter name looks like a credential; answers are kept (a department's API has few names)."""
    return SECRET_WORD.search((unquote_plus(name) if "%" in name else name).lower()) is not None
