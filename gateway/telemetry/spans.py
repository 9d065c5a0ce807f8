"""The gateway's tracer: the OpenTelemetry SDK's own tracer by default, or the lean tracer (lean.py) when
``YIWANG_FAST_PATH_SPANS`` asks for it.

Both start a child of a given span with ``start_child``, the way the gateway's middleware, plugin and outgoing calls
start theirs. The lean tracer relies on private SDK names: it is imported only when asked for, and when it cannot be
imported or built with the SDK installed, the SDK's tracer is used instead (a warning, and
``yiwang_fast_path_fallbacks_total{path="spans"}`` counts it).
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.trace import NonRecordingSpan, SpanKind
from opentelemetry.util import types

from gateway.fallbacks import unavailable

FAST_PATH = "spans"
# The SDK releases (major.minor) the lean tracer was compared with, span for span (tests/test_fast_paths.py,
# tests/test_tracing_lean.py): before 1.45 the SDK cleaned attribute values differently (sequences were kept as lists).
LEAN_SDK_RELEASES = ("1.45",)


def lean_tracer_supported() -> bool:
    """Whether the installed SDK and API are a release the lean tracer was compared with."""
    try:
        installed = {metadata.version(name).rsplit(".", 1)[0] for name in ("opentelemetry-sdk", "opentelemetry-api")}
    except metadata.PackageNotFoundError:
        return False
    return installed <= set(LEAN_SDK_RELEASES)


class GatewayTracer(trace_api.Tracer):
    """An OpenTelemetry tracer that also starts a child of a given span in one call."""

    def start_child(self, parent_span: trace_api.Span, name: str, kind: SpanKind = SpanKind.INTERNAL,
                    attributes: types.Attributes = None, start_time: int | None = None,
                    context: Context | None = None) -> trace_api.Span:
        """``start_span`` under ``parent_span`` (``context``, if given, is the context it came from)."""
        raise NotImplementedError


# What a ParentBased sampler with its default delegates says of itself (``Sampler.get_description``, public API).
_UNSAMPLED_STAYS_UNSAMPLED = "localParentNotSampled:AlwaysOffSampler"


class ApiTracer(GatewayTracer):
    """Any API tracer (the SDK's, or the no-op one of a disabled SDK), with ``start_child``.

    ``unsampled_parent_decides``: the tracer's sampler never records below an unsampled local parent (the gateway's
    ``ParentBased`` sampler). A child of such a parent is then the parent's own ``NonRecordingSpan`` context, without
    the SDK's sampler call, ids and checks: most requests are not sampled in production, and each makes a dozen
    spans. (The one difference: what an unsampled call propagates names the parent's span id, not a new one; no
    span of an unsampled trace is recorded anywhere.)"""

    def __init__(self, tracer: trace_api.Tracer, *, unsampled_parent_decides: bool = False) -> None:
        self.tracer = tracer
        self.unsampled_parent_decides = unsampled_parent_decides

    def start_span(self, *args: Any, **kwargs: Any) -> trace_api.Span:
        return self.tracer.start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self.tracer.start_as_current_span(*args, **kwargs)

    def start_child(self, parent_span: trace_api.Span, name: str, kind: SpanKind = SpanKind.INTERNAL,
                    attributes: types.Attributes = None, start_time: int | None = None,
                    context: Context | None = None) -> trace_api.Span:
        if self.unsampled_parent_decides and not parent_span.is_recording():
            parent = parent_span.get_span_context()
            if parent.is_valid and not parent.is_remote and not parent.trace_flags.sampled:
                return parent_span if type(parent_span) is NonRecordingSpan else NonRecordingSpan(parent)
        return self.tracer.start_span(name, context if context is not None else trace_api.set_span_in_context(
            parent_span), kind, attributes, start_time=start_time)


def gateway_tracer(provider: TracerProvider, name: str, version: str | None = None, *,
                   lean: bool = False) -> GatewayTracer:
    """The provider's tracer; with ``lean``, as a ``LeanTracer`` when the installed SDK allows it (a disabled SDK,
    ``OTEL_SDK_DISABLED``, hands out a no-op tracer: that one as it is)."""
    tracer = provider.get_tracer(name, version)
    if lean and isinstance(tracer, SdkTracer):
        try:
            if not lean_tracer_supported():
                raise TypeError(f"opentelemetry-sdk {metadata.version('opentelemetry-sdk')} is not one of the "
                                f"releases the lean tracer was compared with ({', '.join(LEAN_SDK_RELEASES)})")
            from gateway.telemetry.lean import LeanTracer

            return LeanTracer(tracer)
        except (ImportError, AttributeError, TypeError) as error:  # the SDK's private names moved
            unavailable(FAST_PATH, "fast_path_spans", error)
    sampler = getattr(provider, "sampler", None)
    return ApiTracer(tracer, unsampled_parent_decides=isinstance(sampler, ParentBased)
                     and _UNSAMPLED_STAYS_UNSAMPLED in sampler.get_description())


def lean_tracer(provider: TracerProvider, name: str, version: str | None = None) -> GatewayTracer:
    """``gateway_tracer`` with the lean tracer asked for."""
    return gateway_tracer(provider, name, version, lean=True)
