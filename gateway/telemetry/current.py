"""The current span, read and set the way ``opentelemetry.trace`` and ``opentelemetry.context`` do.

By default these are the API's calls. With ``YIWANG_FAST_PATH_SPANS`` (``use_context_variable(True)`` at app start)
they touch the API's own ``ContextVar`` directly: ``context.attach(trace.set_span_in_context(span))`` and
``trace.get_current_span()`` each pass through four or five small API functions (runtime context, ``get_value``,
``set_value``, an ABC ``isinstance``) to reach it, and a request makes about a dozen spans. That reads two private
names of the API (``context._RUNTIME_CONTEXT``, ``trace.propagation._SPAN_KEY``); when they are gone, or the runtime
context is not the default ``ContextVarsRuntimeContext`` (``OTEL_PYTHON_CONTEXT``), the API's calls stay in use.
Spans set either way are current for any OpenTelemetry code and the other way round.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, Span

from gateway.fallbacks import unavailable

_CURRENT: ContextVar[Context] | None = None  # the API's ContextVar, when the fast path is on
_SPAN_KEY = ""
_SPAN_TYPES: set[type] = set()  # classes seen to be Spans: a set lookup instead of an ABC isinstance


def use_context_variable(on: bool) -> bool:
    """Read and set the current span on the API's ``ContextVar`` (``on``) or through the API; whether the
    ``ContextVar`` is in use. Process-wide, like the API's runtime context."""
    global _CURRENT, _SPAN_KEY
    _CURRENT = None
    if not on:
        return False
    try:
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
        from opentelemetry.trace.propagation import _SPAN_KEY as span_key

        runtime: Any = context_api._RUNTIME_CONTEXT
        if type(runtime) is not ContextVarsRuntimeContext:
            return False
        variable = runtime._current_context
        if not isinstance(variable, ContextVar) or not isinstance(span_key, str):
            raise TypeError("the runtime context's variable or the span key is not what it was")
    except (ImportError, AttributeError, TypeError) as error:
        unavailable("spans.context", "fast_path_spans", error)
        return False
    _SPAN_KEY, _CURRENT = span_key, variable
    return True


def current_span() -> Span:
    """``trace.get_current_span()``."""
    if _CURRENT is None:
        return trace_api.get_current_span()
    span = _CURRENT.get().get(_SPAN_KEY)
    if type(span) in _SPAN_TYPES:
        return span  # type: ignore[return-value]
    if span is not None and isinstance(span, Span):
        _SPAN_TYPES.add(type(span))
        return span
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
