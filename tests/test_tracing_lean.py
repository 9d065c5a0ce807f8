"""Tracing: the lean tracer against the SDK tracer (span semantics, the inline path for children, sampling,
span processors, the trace store as a processor)."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode, TraceState

from tests.tracing_fixtures import lean_only, lean_provider


@lean_only
def test_lean_spans_are_sdk_spans_with_the_sdk_semantics() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import Span

    from gateway.telemetry.lean import LeanSpan
    from gateway.telemetry.spans import lean_tracer

    def record(tracer: Any) -> tuple[ReadableSpan, ...]:
        root = tracer.start_span("root", kind=SpanKind.SERVER, attributes={"a": 1, "list": ["x", "y"]})
        child = tracer.start_span("child", context=trace.set_span_in_context(root), start_time=10,
                                  attributes={"k": "v"})
        child.set_attributes({"b": 2, "c": 3.5})
        child.set_attribute("d", True)  # one more than the limit: the oldest ("k") goes
        child.set_attribute("long", "x" * 20)  # cut to the length limit; "b" goes
        child.add_event("retry", {"attempt": 2}, timestamp=15)
        child.set_status(StatusCode.ERROR, "boom")
        child.end(end_time=20)
        child.set_attribute("late", 1)  # ignored: the span has ended
        child.update_name("renamed")
        root.end(end_time=30)
        return exporter.get_finished_spans()

    def comparable(span: ReadableSpan) -> tuple[Any, ...]:
        return (span.name, span.kind, dict(span.attributes or {}), span.dropped_attributes,
                [(e.name, e.timestamp, dict(e.attributes or {})) for e in span.events], span.status.status_code,
                span.status.description, span.parent is None, span.end_time, span.resource, span.instrumentation_scope)

    provider, exporter = lean_provider(max_span_attributes=3, max_span_attribute_length=8)
    sdk_spans = record(provider.get_tracer("test"))
    exporter.clear()
    tracer = lean_tracer(provider, "test")
    assert isinstance(tracer.start_span("probe"), LeanSpan)
    lean_spans = record(tracer)
    assert all(isinstance(span, Span) for span in lean_spans)
    assert [comparable(span) for span in lean_spans] == [comparable(span) for span in sdk_spans]
    child, root = lean_spans
    assert dict(child.attributes or {}) == {"c": 3.5, "d": True, "long": "x" * 8} and child.dropped_attributes == 2
    assert dict(root.attributes or {}) == {"a": 1, "list": ("x", "y")}  # sequences become tuples
    assert child.parent == root.context and child.context.trace_id == root.context.trace_id
    assert child.context.trace_flags.sampled and child.start_time == 10
    assert json.loads(child.to_json())["attributes"] == {"c": 3.5, "d": True, "long": "x" * 8}  # the console exporter


@lean_only
def test_children_made_on_the_inline_path_match_the_sdk_and_the_general_path() -> None:
    """Without attribute limits, children of recording lean spans are made inline in ``start_child``: they must be
    the spans the SDK tracer and the lean tracer's general path make."""
    from opentelemetry import trace

    from gateway.telemetry.lean import LeanSpan
    from gateway.telemetry.spans import lean_tracer

    def record(tracer: Any, inline: bool | None) -> tuple[ReadableSpan, ...]:
        exporter.clear()
        if inline is not None:
            tracer.plain_children = inline

        def start(name: str, **options: Any) -> Any:
            if inline is None:
                return tracer.start_span(name, context=trace.set_span_in_context(root), **options)
            return tracer.start_child(root, name, **options)

        root = tracer.start_span("root", kind=SpanKind.SERVER, attributes={"a": 1})
        children = [start("plain", attributes={"a": 1, "b": "x", "c": 2.5, "d": False}),
                    start("cleaned", attributes={"list": ["x", "y"], "e": 1}),  # a sequence: not stored as given
                    start("bare", kind=SpanKind.CLIENT, start_time=5)]
        for child in children:
            assert inline is None or isinstance(child, LeanSpan)
            child.set_attribute("z", 1)
            child.end(end_time=50)
        root.end(end_time=60)
        spans = exporter.get_finished_spans()
        assert {span.context.trace_id for span in spans} == {root.get_span_context().trace_id}
        assert len({span.context.span_id for span in spans}) == 4
        assert all(span.parent == root.get_span_context() and span.context.trace_flags.sampled
                   for span in spans[:3])
        return spans

    def comparable(span: ReadableSpan) -> tuple[Any, ...]:
        return (span.name, span.kind, dict(span.attributes or {}), span.dropped_attributes, span.start_time == 5,
                span.end_time, span.status.status_code, span.resource, span.instrumentation_scope)

    provider, exporter = lean_provider()
    sdk = [comparable(span) for span in record(provider.get_tracer("test"), None)]
    tracer = lean_tracer(provider, "test")
    assert tracer.plain_children  # type: ignore[attr-defined]  # the default SDK setup takes the inline path
    assert [comparable(span) for span in record(tracer, True)] == sdk
    assert [comparable(span) for span in record(tracer, False)] == sdk
    assert sdk[1][2] == {"list": ("x", "y"), "e": 1, "z": 1}


@lean_only
def test_lean_tracer_samples_like_parent_based_and_asks_other_samplers_every_time() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace.sampling import (
        ALWAYS_OFF,
        Decision,
        ParentBased,
        SamplingResult,
        StaticSampler,
    )

    from gateway.telemetry.spans import lean_tracer

    provider, exporter = lean_provider(ParentBased(ALWAYS_OFF))
    tracer = lean_tracer(provider, "test")
    root = tracer.start_span("root")
    child = tracer.start_span("child", context=trace.set_span_in_context(root))
    assert not root.is_recording() and not child.is_recording()
    assert child.get_span_context().trace_id == root.get_span_context().trace_id
    assert not child.get_span_context().trace_flags.sampled
    remote = trace.NonRecordingSpan(trace.SpanContext(0x5, 0x6, is_remote=True,
                                                      trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED)))
    continued = tracer.start_span("continued", context=trace.set_span_in_context(remote))
    continued.end()
    assert continued.is_recording() is False and exporter.get_finished_spans()[0].parent == remote.get_span_context()

    class Counting(StaticSampler):
        calls = 0

        def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
            Counting.calls += 1
            return SamplingResult(Decision.RECORD_AND_SAMPLE, {"sampler": "counting"})

    provider, exporter = lean_provider(Counting(Decision.RECORD_AND_SAMPLE))
    tracer = lean_tracer(provider, "test")
    root = tracer.start_span("root")
    tracer.start_span("child", context=trace.set_span_in_context(root)).end()
    root.end()
    assert Counting.calls == 2
    assert all(dict(s.attributes or {}) == {"sampler": "counting"} for s in exporter.get_finished_spans())


@lean_only
def test_lean_tracer_decides_new_traces_as_the_ratio_sampler_does() -> None:
    import random

    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from gateway.telemetry.lean import LeanTracer
    from gateway.telemetry.spans import lean_tracer

    def roots(tracer: Any) -> list[tuple[Any, ...]]:
        random.seed(7)  # both tracers draw the same ids, in the same order (trace id, then span id)
        made = [tracer.start_span("root", attributes={"n": number}) for number in range(200)]
        described = [(span.get_span_context(), span.is_recording(), dict(getattr(span, "attributes", None) or {}))
                     for span in made]
        for span in made:
            span.end()
        return described

    provider, exporter = lean_provider(ParentBased(TraceIdRatioBased(0.5)))
    lean = lean_tracer(provider, "test")
    assert isinstance(lean, LeanTracer) and lean.root_ratio_bound is not None
    expected, got = roots(provider.get_tracer("test")), roots(lean)
    assert got == expected
    sampled = sum(recording for _, recording, _ in got)
    assert 50 < sampled < 150  # both decisions were taken
    assert all(context.trace_flags.sampled is recording and context.trace_flags.random_trace_id
               and context.trace_state == TraceState() for context, recording, _ in got)
    assert len(exporter.get_finished_spans()) == 2 * sampled


@lean_only
def test_lean_tracer_calls_the_processors_that_do_something_and_sees_new_ones() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import SpanProcessor

    from gateway.telemetry.lean import LeanTracer
    from gateway.telemetry.spans import lean_tracer

    class Watching(SpanProcessor):
        def __init__(self) -> None:
            self.seen: list[tuple[str, str, object]] = []

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            self.seen.append(("start", span.name, trace.get_current_span(parent_context)))

        def _on_ending(self, span: Any) -> None:
            self.seen.append(("ending", span.name, span.end_time is not None))

        def on_end(self, span: Any) -> None:
            self.seen.append(("end", span.name, span.end_time is not None))

    provider, exporter = lean_provider()
    tracer = lean_tracer(provider, "test")
    assert isinstance(tracer, LeanTracer) and tracer.starting == () and tracer.ending == ()  # nothing to call
    root = tracer.start_span("root")
    watching = Watching()
    provider.add_span_processor(watching)  # after the tracer was made, while a span is open
    child = tracer.start_child(root, "child")
    child.end()
    root.end()
    assert watching.seen == [("start", "child", root), ("ending", "child", True), ("end", "child", True),
                             ("ending", "root", True), ("end", "root", True)]
    assert [s.name for s in exporter.get_finished_spans()] == ["child", "root"]


@lean_only
def test_the_trace_store_is_called_only_when_a_span_ends() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from gateway.telemetry.lean import LeanTracer
    from gateway.telemetry.spans import lean_tracer
    from gateway.telemetry.store import TraceStore

    provider = TracerProvider(shutdown_on_exit=False)
    store = TraceStore(10)
    provider.add_span_processor(store)
    tracer = lean_tracer(provider, "test")
    assert isinstance(tracer, LeanTracer)
    assert (tracer.starting, tracer.ending, tracer.ended) == ((), (), (store,))  # its on_start/_on_ending are empty
    span = tracer.start_span("one")
    span.end()
    stored = store.get(span.get_span_context().trace_id)
    assert stored is not None and [s.name for s in stored.spans] == ["one"]
