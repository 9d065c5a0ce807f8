"""The current span, read and set the way ``opentelemetry.trace`` and ``opentelemetry.context`` do, in fewer calls.

``context.attach(trace.set_span_in_context(span))`` and ``trace.get_current_span()`` each pass through four or five
small API functions (runtime context, ``get_value``, ``set_value``, an ABC ``isinstance``) to reach one ``ContextVar``.
A request makes about a dozen spans, so the gateway's own spans use these helpers instead. They touch the same
``ContextVar`` the API uses, so spans set here are current for any OpenTelemetry code and the other way round; with
a runtime context other than the SDK's default ``ContextVarsRuntimeContext`` (``OTEL_PYTHON_CONTEXT``), they call the
API.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace import INVALID_SPAN, Span
from opentelemetry.trace.propagation import _SPAN_KEY

from gateway.telemetry.spans import LeanSpan

_runtime: Any = getattr(context_api, "_RUNTIME_CONTEXT", None)
_CURRENT: ContextVar[Context] | None = (_runtime._current_context if type(_runtime) is ContextVarsRuntimeContext
                                        else None)


def current_span() -> Span:
    """``trace.get_current_span()``."""
    if _CURRENT is None:
        return trace_api.get_current_span()
    span = _CURRENT.get().get(_SPAN_KEY)
    if type(span) is LeanSpan or (span is not None and isinstance(span, Span)):
        return span  # type: ignore[return-value]
    return INVALID_SPAN


def with_span(span: Span, base: Context | None = None) -> Context:
    """``trace.set_span_in_context(span, base)``: ``base`` (default: the current context) with ``span`` in it."""
    if _CURRENT is None:
        return trace_api.set_span_in_context(span, base)
    return Context({**(_CURRENT.get() if base is None else base), _SPAN_KEY: span})


def enter(span: Span, base: Context | None = None) -> Token[Context]:
    """``context.attach(trace.set_span_in_context(span, base))``: ``span`` becomes the current span until the token
    is given to ``detach``."""
    if _CURRENT is None:
        return context_api.attach(trace_api.set_span_in_context(span, base))
    return _CURRENT.set(with_span(span, base))


def attach(context: Context) -> Token[Context]:
    """``context.attach(context)``."""
    if _CURRENT is None:
        return context_api.attach(context)
    return _CURRENT.set(context)


def detach(token: Token[Context]) -> None:
    """``context.detach(token)``, which logs instead of raising when the token cannot be reset here."""
    if _CURRENT is None:
        context_api.detach(token)
        return
    try:
        _CURRENT.reset(token)
    except Exception:  # e.g. a token made in another context: let the API report it the way it does
        context_api.detach(token)
