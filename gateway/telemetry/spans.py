"""A tracer that makes real OpenTelemetry SDK spans at a fraction of the SDK tracer's cost per span.

``opentelemetry.sdk.trace.Tracer.start_span`` spends most of its time on generality the gateway does not use: a
sampler call per span (``ParentBased`` only repeats the parent's decision below the root), a locked
``BoundedAttributes`` that re-validates every value, two locked ``BoundedList``s for events and links that are
nearly always empty, a lock per span, and a second object (``_readable_span()``) built for the processors at the end.
``LeanTracer`` wraps the SDK tracer the provider hands out and makes ``LeanSpan``s instead:

* the sampler runs for spans without a local parent (the request span: a new trace or an incoming ``traceparent``)
  — or for every span when the provider's sampler is not a standard ``ParentBased`` one; below a local parent the
  span takes the parent's decision, exactly what ``ParentBased`` returns there;
* attributes live in a plain dict: values of the primitive types (what the gateway's spans carry) are stored as
  given, anything else goes through the SDK's own cleaning; the span limits (count, string length) still hold;
* events and links are created on first use; one lock for all lean spans (the gateway touches a span from one thread);
* ``end`` hands the span itself to the span processors: once ended it refuses every change, so it *is* the readable
  snapshot.

A ``LeanSpan`` is an ``opentelemetry.sdk.trace.Span`` (and so a ``ReadableSpan``): the provider's processors — the
trace store, ``BatchSpanProcessor`` with the OTLP exporter, ``SimpleSpanProcessor`` in tests — receive it as they
would any SDK span. Unsampled spans are the API's ``NonRecordingSpan``, as with the SDK tracer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from time import time_ns
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.attributes import _clean_attribute_value
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanLimits, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types
from opentelemetry.util._decorator import _agnosticcontextmanager

_PRIMITIVE_TYPES = frozenset((str, bool, int, float))
_UNSET_STATUS = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SAMPLED_RANDOM = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_NOT_SAMPLED_RANDOM = TraceFlags(TraceFlags.RANDOM_TRACE_ID)
_LOCK = threading.Lock()
logger = logging.getLogger("opentelemetry.sdk.trace")  # the SDK's warnings about misuse, under the SDK's name


class LeanSpan(Span):
    """An SDK span with cheap construction and attributes; see the module docstring."""

    _lock = _LOCK  # base-class methods (set_status, update_name, add_event …) take it around their change
    _events: Any = ()
    _links: Any = ()
    _status = _UNSET_STATUS
    _end_time: int | None = None
    _sampler = None
    _trace_config = None
    _record_exception = True
    _set_status_on_exception = True
    _record_end_metrics = None
    _instrumentation_info = None
    _dropped_attributes = 0
    _attributes: dict[str, Any]  # type: ignore[assignment]  # a plain dict (the SDK's: BoundedAttributes)

    def __init__(self, tracer: LeanTracer, name: str, span_context: SpanContext, parent: SpanContext | None,
                 kind: SpanKind, attributes: dict[str, Any], start_time: int) -> None:  # no super(): see above
        self._name = name
        self._context = span_context
        self._parent = parent
        self._kind = kind
        self._attributes = attributes
        self._start_time = start_time
        self._resource = tracer.resource
        self._instrumentation_scope = tracer.instrumentation_scope
        self._span_processor = tracer.span_processor
        self._limits = tracer.limits

    @property
    def dropped_attributes(self) -> int:
        return self._dropped_attributes

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._end_time is not None:
            logger.warning("Setting attribute on ended span.")
            return
        if type(value) not in _PRIMITIVE_TYPES or self._limits.max_span_attribute_length is not None:
            value = _clean_attribute_value(value, self._limits.max_span_attribute_length)
        if not key or type(key) is not str:
            self._dropped_attributes += 1
            return
        attributes = self._attributes
        if key not in attributes:
            limit = self._limits.max_span_attributes
            if limit is not None and len(attributes) >= limit:
                if limit == 0:
                    self._dropped_attributes += 1
                    return
                del attributes[next(iter(attributes))]  # like BoundedAttributes: the oldest goes
                self._dropped_attributes += 1
        attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def _add_event(self, event: Any) -> None:
        if self._end_time is not None:
            logger.warning("Tried calling _add_event on an ended span.")
            return
        if not isinstance(self._events, BoundedList):
            self._events = BoundedList(self._limits.max_events)
        self._events.append(event)

    def _add_link(self, link: Link) -> None:
        if self._end_time is not None:
            logger.warning("Tried calling _add_link on an ended span.")
            return
        if not isinstance(self._links, BoundedList):
            self._links = BoundedList(self._limits.max_links)
        self._links.append(link)

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            logger.warning("Calling end() on an ended span.")
            return
        self._end_time = end_time if end_time is not None else time_ns()
        processor = self._span_processor
        processor._on_ending(self)
        processor.on_end(self)  # ended, the span refuses changes: it is its own readable snapshot


def lean_tracer(provider: TracerProvider, name: str, version: str | None = None) -> trace_api.Tracer:
    """The provider's tracer as a ``LeanTracer`` (a disabled SDK, ``OTEL_SDK_DISABLED``, hands out a no-op one:
    that one as it is)."""
    tracer = provider.get_tracer(name, version)
    return LeanTracer(tracer) if isinstance(tracer, SdkTracer) else tracer


class LeanTracer(trace_api.Tracer):
    """Makes ``LeanSpan``s with the sampler, id generator, resource, scope, limits and processors of an SDK tracer
    from ``TracerProvider.get_tracer``; processors added to the provider later are seen (they share the provider's
    multi-processor)."""

    def __init__(self, tracer: SdkTracer) -> None:
        self.sdk_tracer = tracer
        self.sampler = tracer.sampler
        self.resource = tracer.resource
        self.span_processor: SynchronousMultiSpanProcessor = tracer.span_processor  # type: ignore[assignment]
        self.id_generator = tracer.id_generator
        self.instrumentation_scope = tracer._instrumentation_scope
        self.limits: SpanLimits = tracer._span_limits
        sampler = self.sampler
        # Below a local parent, a standard ParentBased sampler returns the parent's decision: no need to ask it.
        self.inherit_local = (isinstance(sampler, ParentBased) and sampler._local_parent_sampled is ALWAYS_ON
                              and sampler._local_parent_not_sampled is ALWAYS_OFF)

    def start_span(self, name: str, context: Context | None = None, kind: SpanKind = SpanKind.INTERNAL,
                   attributes: types.Attributes = None, links: Sequence[Link] | None = (),
                   start_time: int | None = None, record_exception: bool = True,
                   set_status_on_exception: bool = True) -> trace_api.Span:
        parent = trace_api.get_current_span(context).get_span_context()
        if (links or not record_exception or not set_status_on_exception
                or not self.sdk_tracer._is_enabled()):  # pragma: no cover - the gateway does not use these
            return self.sdk_tracer.start_span(name, context, kind, attributes, links, start_time, record_exception,
                                              set_status_on_exception)
        if parent.is_valid and not parent.is_remote and self.inherit_local:
            flags = parent.trace_flags
            if not flags & TraceFlags.SAMPLED:
                return NonRecordingSpan(SpanContext(parent.trace_id, self.id_generator.generate_span_id(), False,
                                                    _NOT_SAMPLED_RANDOM if flags.random_trace_id else _NOT_SAMPLED,
                                                    parent.trace_state))
            span_context = SpanContext(parent.trace_id, self.id_generator.generate_span_id(), False,
                                       _SAMPLED_RANDOM if flags.random_trace_id else _SAMPLED, parent.trace_state)
            return self._start(name, span_context, parent, kind, attributes, start_time, context)
        return self._start_sampled(name, parent if parent.is_valid else None, context, kind, attributes, start_time)

    def _start_sampled(self, name: str, parent: SpanContext | None, context: Context | None, kind: SpanKind,
                       attributes: types.Attributes, start_time: int | None) -> trace_api.Span:
        """The SDK tracer's way: ask the sampler (a root span, a remote parent, or a non-standard sampler)."""
        if parent is None:
            trace_id = self.id_generator.generate_trace_id()
            random_trace_id = self.id_generator.is_trace_id_random()
        else:
            trace_id = parent.trace_id
            random_trace_id = parent.trace_flags.random_trace_id
        result = self.sampler.should_sample(context, trace_id, name, kind, attributes, ())
        sampled = result.decision.is_sampled()
        flags = ((_SAMPLED_RANDOM if random_trace_id else _SAMPLED) if sampled
                 else (_NOT_SAMPLED_RANDOM if random_trace_id else _NOT_SAMPLED))
        span_context = SpanContext(trace_id, self.id_generator.generate_span_id(), False, flags, result.trace_state)
        if not result.decision.is_recording():
            return NonRecordingSpan(span_context)
        return self._start(name, span_context, parent, kind, result.attributes, start_time, context)

    def _start(self, name: str, span_context: SpanContext, parent: SpanContext | None, kind: SpanKind,
               attributes: types.Attributes, start_time: int | None, context: Context | None) -> LeanSpan:
        limits = self.limits
        if attributes:
            values = dict(attributes)
            if (limits.max_span_attribute_length is not None
                    or (limits.max_span_attributes is not None and len(values) > limits.max_span_attributes)
                    or any(type(value) not in _PRIMITIVE_TYPES for value in values.values())):
                values = {}
                span = LeanSpan(self, name, span_context, parent, kind, values, 0)
                span.set_attributes(attributes)
            else:
                span = LeanSpan(self, name, span_context, parent, kind, values, 0)
        else:
            span = LeanSpan(self, name, span_context, parent, kind, {}, 0)
        span._start_time = start_time if start_time is not None else time_ns()
        self.span_processor.on_start(span, parent_context=context)
        return span

    @_agnosticcontextmanager
    def start_as_current_span(self, name: str, context: Context | None = None, kind: SpanKind = SpanKind.INTERNAL,
                              attributes: types.Attributes = None, links: Sequence[Link] | None = (),
                              start_time: int | None = None, record_exception: bool = True,
                              set_status_on_exception: bool = True, end_on_exit: bool = True,
                              ) -> Iterator[trace_api.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time, record_exception,
                               set_status_on_exception)
        with trace_api.use_span(span, end_on_exit=end_on_exit, record_exception=record_exception,
                                set_status_on_exception=set_status_on_exception) as current:
            yield current


