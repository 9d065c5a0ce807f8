"""A tracer that makes real OpenTelemetry SDK spans at a fraction of the SDK tracer's cost per span.

A fast path behind ``YIWANG_FAST_PATH_SPANS`` (off by default): it reads about a dozen private names of the SDK
(``Tracer._span_limits``, ``ParentBased._root``, ``SynchronousMultiSpanProcessor._span_processors``, ``Span``'s
``_attributes``, ``attributes._clean_attribute_value`` …) and the bytecode of processor hooks, so it is used only
with the SDK releases it was compared with span for span (``spans.LEAN_SDK_RELEASES``: 1.45; at 1.42–1.44 the SDK
still kept sequence attributes as lists). ``gateway.telemetry.spans.gateway_tracer`` imports it only when the setting
asks for it, and falls back to the SDK's tracer (logged, counted) at any other release or when it cannot be built.

``opentelemetry.sdk.trace.Tracer.start_span`` spends most of its time on generality the gateway does not use: a
sampler call per span (``ParentBased`` only repeats the parent's decision below the root), a context lookup for the
parent, a re-validated ``SpanContext``, a locked ``BoundedAttributes`` that re-validates every value, two locked
``BoundedList``s for events and links that are nearly always empty, a lock per span, calls into every processor's
empty ``on_start``/``_on_ending``, and a second object (``_readable_span()``) built for the processors at the end.
``LeanTracer`` wraps the SDK tracer the provider hands out and makes ``LeanSpan``s instead:

* the sampler runs for spans without a local parent (the request span: a new trace or an incoming ``traceparent``)
  — or for every span when the provider's sampler is not a standard ``ParentBased`` one; below a local parent the
  span takes the parent's decision, exactly what ``ParentBased`` returns there. A new trace under the gateway's
  ``ParentBased(TraceIdRatioBased)`` is decided the way that sampler decides, on the trace id, without its calls.
  ``start_child`` takes the parent span itself, so the gateway's own spans skip the context lookup too, and
  makes a recording child of a recording lean span (nearly every span) inline, in one call;
* the ``SpanContext`` of a child is built as the tuple it is (its trace id comes from a valid parent, its span id
  from the id generator, so there is nothing to check);
* attributes live in a plain dict: values of the primitive types (what the gateway's spans carry) are stored as
  given (checked in C, with no Python loop per attribute), anything else goes through the SDK's own cleaning; the
  span limits (count, string length) still hold;
* resource, scope and limits are the tracer's (read through it), events and links are created on first use, and
  one lock serves all lean spans (the base class's methods take it; the gateway touches a span from one thread);
* processors whose ``on_start`` or ``_on_ending`` is empty (the SDK's batch and simple processors, the trace store)
  are not called; ``end`` hands the span itself to ``on_end``: once ended it refuses every change, so it *is* the
  readable snapshot.

A ``LeanSpan`` is an ``opentelemetry.sdk.trace.Span`` (and so a ``ReadableSpan``): the provider's processors — the
trace store, ``BatchSpanProcessor`` with the OTLP exporter, ``SimpleSpanProcessor`` in tests — receive it as they
would any SDK span. Unsampled spans are the API's ``NonRecordingSpan``, as with the SDK tracer. Links, a disabled
tracer or ``record_exception=False`` go to the SDK tracer as they are.
"""

from __future__ import annotations

import dis
import logging
import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from time import time_ns
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.attributes import _clean_attribute_value
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanLimits, SpanProcessor, SynchronousMultiSpanProcessor
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    DEFAULT_TRACE_STATE,
    INVALID_SPAN_ID,
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.util import types
from opentelemetry.util._decorator import _agnosticcontextmanager

from gateway.telemetry.spans import GatewayTracer

_PRIMITIVE_TYPES = frozenset((str, bool, int, float))
_STR_TYPE = frozenset((str,))
_UNSET_STATUS = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SAMPLED_RANDOM = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_NOT_SAMPLED_RANDOM = TraceFlags(TraceFlags.RANDOM_TRACE_ID)
_LOCK = threading.Lock()
_TRACE_ID_LIMIT = TraceIdRatioBased.TRACE_ID_LIMIT  # the ratio sampler decides on these bits
_new = object.__new__
_new_tuple = tuple.__new__
_getrandbits = random.getrandbits
logger = logging.getLogger("opentelemetry.sdk.trace")  # the SDK's warnings about misuse, under the SDK's name


def _does_nothing(method: Any) -> bool:
    """True for a processor method whose body is empty (``pass``, a docstring, ``return None``)."""
    code = getattr(method, "__code__", None)
    if code is None:
        return False
    instructions = [i for i in dis.get_instructions(code) if i.opname not in ("RESUME", "NOP", "CACHE")]
    if [i.opname for i in instructions] == ["LOAD_CONST", "RETURN_VALUE"]:
        return instructions[0].argval is None
    return [i.opname for i in instructions] == ["RETURN_CONST"] and instructions[0].argval is None


def _flags(sampled: bool, random_trace_id: bool) -> TraceFlags:
    if sampled:
        return _SAMPLED_RANDOM if random_trace_id else _SAMPLED
    return _NOT_SAMPLED_RANDOM if random_trace_id else _NOT_SAMPLED


def _span_context(trace_id: int, span_id: int, flags: TraceFlags, trace_state: TraceState) -> SpanContext:
    """``SpanContext(trace_id, span_id, False, flags, trace_state)`` for ids known to be valid (a trace id taken from
    a valid parent, a span id from the id generator): the tuple it is, without its checks."""
    return _new_tuple(SpanContext, (trace_id, span_id, False, flags, trace_state, True))  # type: ignore[no-any-return]


def _random_span_id() -> int:
    span_id = _getrandbits(64)
    while span_id == INVALID_SPAN_ID:
        span_id = _getrandbits(64)
    return span_id


class LeanSpan(Span):
    """An SDK span with cheap construction and attributes, made by ``LeanTracer`` (see the module docstring)."""

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
    _tracer: LeanTracer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("LeanSpans are made by LeanTracer.start_span")

    # What the SDK span keeps per span is the tracer's: read it from there (exporters read these once per span).
    @property
    def _resource(self) -> Resource:  # type: ignore[override]
        return self._tracer.resource

    @property
    def _instrumentation_scope(self) -> InstrumentationScope | None:  # type: ignore[override]
        return self._tracer.instrumentation_scope

    @property
    def _limits(self) -> SpanLimits:  # type: ignore[override]
        return self._tracer.limits

    @property
    def dropped_attributes(self) -> int:
        return self._dropped_attributes

    def get_span_context(self) -> SpanContext:
        return self._context  # type: ignore[return-value]

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._end_time is not None:
            logger.warning("Setting attribute on ended span.")
            return
        tracer = self._tracer
        if type(value) not in _PRIMITIVE_TYPES or tracer.max_length is not None:
            value = _clean_attribute_value(value, tracer.max_length)
        if not key or type(key) is not str:
            self._dropped_attributes += 1
            return
        attributes = self._attributes
        if key not in attributes and len(attributes) >= tracer.max_attributes:
            self._dropped_attributes += 1
            if not attributes:  # a limit of 0
                return
            del attributes[next(iter(attributes))]  # like BoundedAttributes: the oldest goes
        attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self._end_time is None and self._tracer.plain(attributes, len(self._attributes)):
            self._attributes.update(attributes)
            return
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
        tracer = self._tracer
        if tracer.span_processor._span_processors is not tracer.processors:
            tracer.refresh_processors()
        for hook in tracer.end_hooks:  # every _on_ending that does something, then every on_end
            hook(self)  # ended, the span refuses changes: it is its own readable snapshot


class LeanTracer(GatewayTracer):
    """Makes ``LeanSpan``s with the sampler, id generator, resource, scope, limits and processors of an SDK tracer
    from ``TracerProvider.get_tracer``. Processors added to the provider later are seen: the provider's
    multi-processor is read at every span start and end, and the processors whose ``on_start`` or ``_on_ending`` is
    empty are not called."""

    def __init__(self, tracer: SdkTracer) -> None:
        self.sdk_tracer = tracer
        self.sampler = tracer.sampler
        self.resource = tracer.resource
        self.id_generator = tracer.id_generator
        self.instrumentation_scope = tracer._instrumentation_scope
        self.limits: SpanLimits = tracer._span_limits
        self.max_length = self.limits.max_span_attribute_length
        self.as_given = self.max_length is None  # primitive values are stored as given (no length to cut them to)
        limit = self.limits.max_span_attributes
        self.max_attributes: float = limit if limit is not None else float("inf")
        sampler = self.sampler
        # Below a local parent, a standard ParentBased sampler returns the parent's decision: no need to ask it.
        self.inherit_local = (isinstance(sampler, ParentBased) and sampler._local_parent_sampled is ALWAYS_ON
                              and sampler._local_parent_not_sampled is ALWAYS_OFF)
        # The SDK's RandomIdGenerator, without its method call per id.
        random_ids = type(self.id_generator) is RandomIdGenerator
        # Children of recording lean spans take start_child's inline path: the parent's decision, random ids, and
        # attribute values stored as given.
        self.plain_children = self.inherit_local and random_ids and self.as_given
        self.new_span_id = _random_span_id if random_ids else self.id_generator.generate_span_id
        # A new trace under ParentBased(TraceIdRatioBased(rate)) is sampled when its id is below this bound.
        root = sampler._root if type(sampler) is ParentBased else None
        self.root_ratio_bound: int | None = (root.bound if type(root) is TraceIdRatioBased and random_ids
                                             else None)
        self.span_processor: Any = tracer.span_processor
        if not isinstance(self.span_processor, SynchronousMultiSpanProcessor):  # e.g. a concurrent one: as it is
            self.span_processor = _Single(self.span_processor)
        self.processors: tuple[SpanProcessor, ...] | None = None
        self.starting: tuple[SpanProcessor, ...] = ()
        self.ending: tuple[SpanProcessor, ...] = ()
        self.ended: tuple[SpanProcessor, ...] = ()
        self.end_hooks: tuple[Callable[[Span], None], ...] = ()
        self.refresh_processors()

    def refresh_processors(self) -> None:
        processors = self.span_processor._span_processors
        self.starting = tuple(p for p in processors if not _does_nothing(type(p).on_start))
        self.ending = tuple(p for p in processors if not _does_nothing(type(p)._on_ending))
        self.ended = processors
        self.end_hooks = (*(p._on_ending for p in self.ending), *(p.on_end for p in processors))
        self.processors = processors

    def plain(self, attributes: Mapping[str, Any], beside: int = 0) -> bool:
        """Whether ``attributes`` can be stored as they are beside ``beside`` others: primitive values under
        non-empty ``str`` keys, within the limits (the checks run in C: no Python loop per attribute)."""
        return (self.as_given and len(attributes) + beside <= self.max_attributes
                and _PRIMITIVE_TYPES.issuperset(map(type, attributes.values()))
                and _STR_TYPE.issuperset(map(type, attributes)) and "" not in attributes)

    def start_span(self, name: str, context: Context | None = None, kind: SpanKind = SpanKind.INTERNAL,
                   attributes: types.Attributes = None, links: Sequence[Link] | None = (),
                   start_time: int | None = None, record_exception: bool = True,
                   set_status_on_exception: bool = True) -> trace_api.Span:
        if links or not record_exception or not set_status_on_exception or not self.sdk_tracer._is_enabled():
            return self.sdk_tracer.start_span(name, context, kind, attributes, links, start_time, record_exception,
                                              set_status_on_exception)
        return self.start_child(trace_api.get_current_span(context), name, kind, attributes, start_time, context)

    def start_child(self, parent_span: trace_api.Span, name: str, kind: SpanKind = SpanKind.INTERNAL,
                    attributes: types.Attributes = None, start_time: int | None = None,
                    context: Context | None = None) -> trace_api.Span:
        """``start_span`` with the parent span given (``context``, if given, is the context it came from)."""
        if type(parent_span) is LeanSpan:
            # A LeanSpan parent is valid and local, and its flags are one of the four constants above.
            parent: SpanContext = parent_span._context  # type: ignore[assignment]
            flags = parent[3]
            if ((flags is _SAMPLED or flags is _SAMPLED_RANDOM) and self.plain_children and not self.starting
                    and self.span_processor._span_processors is self.processors):
                # The span of nearly every call, made here: what start_child and _recording do on this path, inline.
                span: LeanSpan = _new(LeanSpan)
                span._tracer = self
                span._name = name
                span._context = _new_tuple(SpanContext, (parent[0], _getrandbits(64) or _random_span_id(), False,
                                                         flags, parent[4], True))
                span._parent = parent
                span._kind = kind
                self._set_initial_attributes(span, attributes)
                span._start_time = start_time if start_time is not None else time_ns()
                return span
        else:
            parent = parent_span.get_span_context()
        if not (self.inherit_local and parent[5] and not parent[2]):  # is_valid, is_remote
            return self._start_sampled(name, parent if parent[5] else None, parent_span, context, kind, attributes,
                                       start_time)
        flags = parent[3]
        if flags is not _SAMPLED and flags is not _SAMPLED_RANDOM:
            flags = _flags(bool(flags & TraceFlags.SAMPLED), bool(flags & TraceFlags.RANDOM_TRACE_ID))
            if flags is _NOT_SAMPLED or flags is _NOT_SAMPLED_RANDOM:
                return NonRecordingSpan(_span_context(parent[0], self.new_span_id(), flags, parent[4]))
        return self._recording(name, _span_context(parent[0], self.new_span_id(), flags, parent[4]), parent, kind,
                               attributes, start_time, parent_span, context)

    def _recording(self, name: str, span_context: SpanContext, parent: SpanContext | None, kind: SpanKind,
                   attributes: types.Attributes, start_time: int | None, parent_span: trace_api.Span | None,
                   context: Context | None) -> LeanSpan:
        span: LeanSpan = _new(LeanSpan)
        span._tracer = self
        span._name = name
        span._context = span_context
        span._parent = parent
        span._kind = kind
        self._set_initial_attributes(span, attributes)
        span._start_time = start_time if start_time is not None else time_ns()
        if self.span_processor._span_processors is not self.processors:
            self.refresh_processors()
        if self.starting:
            if context is None and parent_span is not None:
                context = trace_api.set_span_in_context(parent_span)
            for processor in self.starting:
                processor.on_start(span, parent_context=context)
        return span

    def _set_initial_attributes(self, span: LeanSpan, attributes: types.Attributes) -> None:
        if not attributes:
            span._attributes = {}
        elif (self.as_given and len(attributes) <= self.max_attributes  # plain(), inline: on nearly every span
              and _PRIMITIVE_TYPES.issuperset(map(type, attributes.values()))
              and _STR_TYPE.issuperset(map(type, attributes)) and "" not in attributes):
            span._attributes = dict(attributes)
        else:
            span._attributes = {}
            span.set_attributes(attributes)

    def _start_sampled(self, name: str, parent: SpanContext | None, parent_span: trace_api.Span,
                       context: Context | None, kind: SpanKind, attributes: types.Attributes,
                       start_time: int | None) -> trace_api.Span:
        """A span the sampler decides on: a root span, one under a remote parent, or any with a non-standard
        sampler. A new trace under ``ParentBased(TraceIdRatioBased)`` with random ids is decided here as that
        sampler would (on the trace id's low 64 bits, the attributes kept, no trace state) without its calls."""
        if parent is None and self.root_ratio_bound is not None:
            trace_id = _getrandbits(128) or self.id_generator.generate_trace_id()
            sampled = trace_id & _TRACE_ID_LIMIT < self.root_ratio_bound
            span_context = _span_context(trace_id, self.new_span_id(), _SAMPLED_RANDOM if sampled
                                         else _NOT_SAMPLED_RANDOM, DEFAULT_TRACE_STATE)
            if not sampled:
                return NonRecordingSpan(span_context)
            return self._recording(name, span_context, None, kind, attributes, start_time, parent_span, context)
        if context is None and self.starting:
            context = trace_api.set_span_in_context(parent_span)
        if parent is None:
            trace_id = self.id_generator.generate_trace_id()
            random_trace_id = self.id_generator.is_trace_id_random()
        else:
            trace_id = parent.trace_id
            random_trace_id = parent.trace_flags.random_trace_id
        result = self.sampler.should_sample(context, trace_id, name, kind, attributes, ())
        span_context = SpanContext(trace_id, self.new_span_id(), False,
                                   _flags(result.decision.is_sampled(), random_trace_id), result.trace_state)
        if not result.decision.is_recording():
            return NonRecordingSpan(span_context)
        return self._recording(name, span_context, parent, kind, result.attributes, start_time, None, context)

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


class _Single:
    """A span processor that is not the SDK's synchronous multi-processor, looking like one with just itself."""

    def __init__(self, processor: SpanProcessor) -> None:
        self._span_processors = (processor,)

