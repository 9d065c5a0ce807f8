"""The built-in trace store: the spans of the last N traces, in process, for ``/admin/traces`` and the trace page.

It is a span processor whose ``on_end`` only appends the finished span to its trace (O(1), no I/O, no thread, no
copy): a span becomes a ``StoredSpan`` of plain values the first time someone reads its trace, and the summaries and
the JSON are built when someone asks. Memory is bounded by the number of traces and the spans kept per trace; the
oldest trace goes first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from gateway.telemetry import naming

MAX_SPANS_PER_TRACE = 2000
NS_PER_MS = 1_000_000


def format_trace_id(trace_id: int) -> str:
    """The 32 hex digits of W3C trace context (what ``format(trace_id, "032x")`` gives, in half the time)."""
    return trace_id.to_bytes(16, "big").hex()


def format_span_id(span_id: int) -> str:
    return span_id.to_bytes(8, "big").hex()


class StoredSpan(NamedTuple):
    """A finished span as plain values (strings, numbers, tuples and dicts of them): the store holds no SDK objects
    (locks, resource, scope) and turns into JSON directly."""

    span_id: int
    parent_id: int | None
    parent_is_remote: bool
    name: str
    kind: str
    start_time: int
    end_time: int
    status: str
    status_message: str | None
    attributes: dict[str, Any]
    events: tuple[tuple[str, int, dict[str, Any]], ...]

    @classmethod
    def of(cls, span: ReadableSpan) -> StoredSpan:
        parent = span.parent
        start = span.start_time or 0
        return cls(span.context.span_id if span.context is not None else 0,
                   parent.span_id if parent is not None else None, bool(parent is not None and parent.is_remote),
                   span.name, span.kind.name, start, span.end_time or start, span.status.status_code.name,
                   span.status.description, dict(span.attributes or {}),
                   tuple((event.name, event.timestamp, dict(event.attributes or {})) for event in span.events))


class TraceStore(SpanProcessor):
    def __init__(self, max_traces: int, max_spans_per_trace: int = MAX_SPANS_PER_TRACE) -> None:
        self.max_traces = max_traces
        self.max_spans_per_trace = max_spans_per_trace
        self._traces: OrderedDict[int, list[ReadableSpan | StoredSpan]] = OrderedDict()
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        # On the request path: an append, nothing else (the span is ended, so it no longer changes). A list append
        # is atomic: only a new trace, which changes the dict of traces, takes the lock.
        context = span._context  # what span.context returns, without the property call
        trace_id = context[0] if context is not None else 0  # SpanContext is a tuple; [0] is its trace_id
        spans = self._traces.get(trace_id)
        if spans is None:
            self._new_trace(trace_id, span)
        elif len(spans) < self.max_spans_per_trace:
            spans.append(span)

    def _new_trace(self, trace_id: int, span: ReadableSpan) -> None:
        with self._lock:
            spans = self._traces.get(trace_id)  # (another thread may have begun it meanwhile)
            if spans is None:
                spans = self._traces[trace_id] = []
                if len(self._traces) > self.max_traces:
                    self._traces.popitem(last=False)
            if len(spans) < self.max_spans_per_trace:
                spans.append(span)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def traces(self) -> list[StoredTrace]:
        """Every stored trace, newest first."""
        with self._lock:
            snapshot = [(trace_id, _stored(spans)) for trace_id, spans in self._traces.items()]
        return [StoredTrace(trace_id, spans) for trace_id, spans in reversed(snapshot)]

    def get(self, trace_id: int) -> StoredTrace | None:
        with self._lock:
            spans = self._traces.get(trace_id)
            return StoredTrace(trace_id, _stored(spans)) if spans is not None else None

    def __len__(self) -> int:
        return len(self._traces)


def _stored(spans: list[ReadableSpan | StoredSpan]) -> list[StoredSpan]:
    """The trace's spans as ``StoredSpan``s, converting (once: the list keeps the result) those not yet read."""
    for index, span in enumerate(spans):
        if not isinstance(span, StoredSpan):
            spans[index] = StoredSpan.of(span)
    return list(spans)  # type: ignore[arg-type]  # every item is a StoredSpan now


@dataclass(frozen=True, slots=True)
class StoredTrace:
    trace_id: int
    spans: Sequence[StoredSpan]

    @property
    def root(self) -> StoredSpan:
        """The span without a parent in this process (an incoming traceparent's span is remote), else the first."""
        local_ids = {span.span_id for span in self.spans}
        roots = [span for span in self.spans if span.parent_id is None or span.parent_is_remote
                 or span.parent_id not in local_ids]
        return min(roots or self.spans, key=_start)

    def summary(self) -> dict[str, Any]:
        root = self.root
        started = min(_start(span) for span in self.spans)
        ended = max(_end(span) for span in self.spans)
        operation = next((span for span in self.spans if span.name.startswith(naming.OPERATION)), None)
        operation_attributes = operation.attributes if operation is not None else {}
        fetches = [span for span in self.spans if span.name.startswith(naming.DEPARTMENT_FETCH)]
        departments = sorted({str(_attribute(span, naming.DEPARTMENT)) for span in fetches})
        failed = sorted({str(_attribute(span, naming.DEPARTMENT)) for span in fetches if _failed(span)})
        cancelled = sorted({str(_attribute(span, naming.DEPARTMENT)) for span in fetches
                            if _attribute(span, naming.CANCELLED)})
        error_codes = {str(_attribute(span, naming.ERROR_CODE)) for span in fetches if _failed(span)}
        error_codes.update(str(code) for span in self.spans for code in _attribute(span, naming.ERROR_CODES) or ())
        return {
            "traceId": format_trace_id(self.trace_id),
            "name": root.name,
            "operationName": operation_attributes.get(naming.OPERATION_NAME),
            "operationType": operation_attributes.get(naming.OPERATION_TYPE),
            "startTime": started / NS_PER_MS,  # epoch milliseconds
            "durationMs": (ended - started) / NS_PER_MS,
            "error": any(_failed(span) for span in self.spans),
            "errorCodes": sorted(error_codes),
            "departments": departments,
            "failedDepartments": failed,
            "cancelledDepartments": cancelled,
            "departmentCalls": len(fetches),
            "cacheHits": sum(1 for span in fetches if _attribute(span, naming.CACHE) == "hit"),
            "spanCount": len(self.spans),
        }

    def detail(self) -> dict[str, Any]:
        started = min(_start(span) for span in self.spans)
        spans = sorted(self.spans, key=_start)
        return {**self.summary(), "departmentTimes": _department_times(spans),
                "spans": [_span_json(span, started) for span in spans]}


def _department_times(spans: Sequence[StoredSpan]) -> dict[str, dict[str, Any]]:
    """Per department: its calls and the wall time they took together — the union of their intervals, since calls
    to one department run in parallel (a sum would count the same milliseconds several times)."""
    intervals: dict[str, list[tuple[int, int]]] = {}
    for span in spans:
        if span.name.startswith(naming.DEPARTMENT_FETCH):
            intervals.setdefault(str(_attribute(span, naming.DEPARTMENT)), []).append((_start(span), _end(span)))
    return {department: {"calls": len(found), "wallMs": union_ns(found) / NS_PER_MS}
            for department, found in intervals.items()}


def union_ns(intervals: Iterable[tuple[int, int]]) -> int:
    """The length of the union of ``[start, end]`` intervals."""
    total, reach = 0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def matches(summary: dict[str, Any], *, operation: str | None, department: str | None, min_duration_ms: float | None,
            errors_only: bool) -> bool:
    if operation and operation.lower() not in str(summary["operationName"] or "").lower():
        return False
    if department and department not in summary["departments"]:
        return False
    if min_duration_ms is not None and summary["durationMs"] < min_duration_ms:
        return False
    return not errors_only or bool(summary["error"])


def _span_json(span: StoredSpan, trace_start: int) -> dict[str, Any]:
    return {
        "spanId": format_span_id(span.span_id),
        "parentSpanId": format_span_id(span.parent_id) if span.parent_id is not None else None,
        "name": span.name,
        "kind": span.kind,
        "startMs": (span.start_time - trace_start) / NS_PER_MS,
        "durationMs": (span.end_time - span.start_time) / NS_PER_MS,
        "status": span.status,
        "statusMessage": span.status_message,
        "attributes": {key: _json_value(value) for key, value in span.attributes.items()},
        "events": [{"name": name, "atMs": (timestamp - trace_start) / NS_PER_MS,
                    "attributes": {k: _json_value(v) for k, v in attributes.items()}}
                   for name, timestamp, attributes in span.events],
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, Iterable):
        return [_json_value(item) for item in value]
    return str(value)


def _attribute(span: StoredSpan, key: str) -> Any:
    return span.attributes.get(key)


def _failed(span: StoredSpan) -> bool:
    return span.status == StatusCode.ERROR.name


def _start(span: StoredSpan) -> int:
    return span.start_time


def _end(span: StoredSpan) -> int:
    return span.end_time
