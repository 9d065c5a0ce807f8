"""The GraphQL stages as spans — ``graphql.operation <name>`` with ``graphql.parse``, ``graphql.validate`` and
``graphql.execute`` under it — the per-operation metrics, and ``extensions.traceId`` in every response.

No span per field resolver: that is where per-resolver tracing spends its time. Department calls get their spans from
``TelemetryPlugin.on_upstream_fetch`` under ``graphql.execute``.

The parse and validate spans are timed from this extension's neighbouring hooks: strawberry's parser and validation
caches are extensions listed before this one and do their work before its ``on_parse``/``on_validate`` starts, so the
stage is measured from the end of the previous stage to the end of this extension's hook for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator, Sequence
from contextvars import Token
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, Span, StatusCode
from strawberry.extensions import SchemaExtension

from gateway.context import RequestContext
from gateway.extensions import shape_error
from gateway.telemetry import current, naming
from gateway.telemetry.store import format_trace_id

if TYPE_CHECKING:
    from gateway.telemetry.plugin import TelemetryPlugin

MAX_DOCUMENT_CHARS = 4000
DOCUMENT_HASH_CACHE = 1024


@lru_cache(maxsize=DOCUMENT_HASH_CACHE)
def document_hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def operation_extension(plugin: TelemetryPlugin) -> type[SchemaExtension]:
    class OperationTelemetry(SchemaExtension):
        _parent: Context | None = None
        _span: Span = INVALID_SPAN
        _trace_id: int = 0
        _stage_start: int = 0
        _parsed = False
        _started_at: int = 0
        _token: Token[Context] | None = None
        _open = False  # on_operation entered and the operation not finished yet

        def on_operation(self) -> Iterator[None]:
            tracer = plugin.tracer
            self._started_at = self._stage_start = time.time_ns()
            if tracer is not None:
                span = tracer.start_child(current.current_span(), naming.OPERATION)
                self._span = span
                self._parent = current.with_span(span)
                self._trace_id = span.get_span_context().trace_id
                self._token = current.attach(self._parent)
            self._open = True
            failure: BaseException | None = None
            try:
                yield
            except GeneratorExit:
                # Never resumed: see get_results. Closed when collected, in another context: nothing to detach.
                self._token = None
                raise
            except BaseException as exc:  # e.g. a parse error raised by the parser cache, before on_parse runs
                failure = exc
                raise
            finally:
                self._close(failure)

        def _close(self, failure: BaseException | None) -> None:
            if not self._open:
                return
            self._open = False
            if self._token is not None:
                current.detach(self._token)
                self._token = None
            self._finish(self._span if plugin.tracer is not None else None,
                         (time.time_ns() - self._started_at) / 1e9, failure)

        def _finish(self, span: Span | None, seconds: float, failure: BaseException | None) -> None:
            execution = self.execution_context
            cancelled = isinstance(failure, asyncio.CancelledError)  # the caller left: not an error of anybody's
            if cancelled:
                failure = None
            name = execution.operation_name
            try:
                operation_type = execution.operation_type.value
            except RuntimeError:  # the document did not parse
                operation_type = "unknown"
            errors = list(execution.pre_execution_errors or ())
            if failure is not None:
                errors.append(failure if isinstance(failure, GraphQLError)
                              else GraphQLError(str(failure), original_error=_exception(failure)))
            request = execution.context
            failed_departments = sorted(request.failures.by_department) if isinstance(request, RequestContext) else []
            failed = bool(errors or failed_departments)
            plugin.metrics.observe_operation(name, operation_type, failed, seconds,
                                             _declares(execution.graphql_document, name), cancelled=cancelled)
            if span is None:
                return
            if not span.is_recording():  # an unsampled trace: nothing to describe
                span.end()
                return
            if not self._parsed and execution.graphql_document is None:
                self._stage_span(naming.PARSE, errors)
            if name:
                span.update_name(f"{naming.OPERATION} {name}")
            attributes: dict[str, Any] = {naming.OPERATION_TYPE: operation_type}
            if name:
                attributes[naming.OPERATION_NAME] = name
            if execution.query:
                attributes[naming.DOCUMENT_HASH] = document_hash(execution.query)
                attributes[naming.DOCUMENT] = execution.query[:MAX_DOCUMENT_CHARS]
            if failed:
                attributes[naming.ERROR_COUNT] = len(errors) + len(failed_departments)
                attributes[naming.FAILED_DEPARTMENTS] = failed_departments
                attributes[naming.ERROR_CODES] = sorted({_code(error) for error in errors})
                reasons = [*(error.message for error in errors[:3]),
                           *(f"department {department} failed" for department in failed_departments)]
                span.set_status(StatusCode.ERROR, "; ".join(reasons))
            if cancelled:
                attributes[naming.CANCELLED] = True
            span.set_attributes(attributes)
            span.end()

        def on_parse(self) -> Iterator[None]:
            yield
            self._parsed = True
            self._stage_span(naming.PARSE, self.execution_context.pre_execution_errors)

        def on_validate(self) -> Iterator[None]:
            yield
            self._stage_span(naming.VALIDATE, self.execution_context.pre_execution_errors)

        def _stage_span(self, name: str, errors: Sequence[GraphQLError] | None) -> None:
            tracer = plugin.tracer
            if tracer is None or self._parent is None:
                return
            now = time.time_ns()
            span = tracer.start_child(self._span, name, start_time=self._stage_start, context=self._parent)
            if errors:
                span.set_status(StatusCode.ERROR, errors[0].message)
                span.set_attributes({naming.ERROR_COUNT: len(errors),
                                     naming.ERROR_CODES: sorted({_code(error) for error in errors})})
            span.end(end_time=now)
            self._stage_start = now

        def on_execute(self) -> Iterator[None]:
            tracer = plugin.tracer
            if tracer is None or self._parent is None:
                yield
                return
            span = tracer.start_child(self._span, naming.EXECUTE, context=self._parent)
            token = current.enter(span, self._parent)
            try:
                yield
            finally:
                current.detach(token)
                span.end()

        def get_results(self) -> dict[str, Any]:
            if self._open and self.execution_context.graphql_document is None:
                # Answered before a document was parsed. If an extension after this one refused the operation on
                # entering it (an unknown persisted query), strawberry never resumes the hooks it had entered, and
                # this one would end only when collected (a trace of many seconds, a detach in another context):
                # the operation ends with its answer, here, in its own context.
                self._close(None)
            return {"traceId": format_trace_id(self._trace_id)} if self._trace_id else {}

    return OperationTelemetry


def _code(error: GraphQLError) -> str:
    return str((shape_error(error).extensions or {}).get("code", "INTERNAL_SERVER_ERROR"))


def _exception(failure: BaseException) -> Exception | None:
    return failure if isinstance(failure, Exception) else None


def _declares(document: DocumentNode | None, name: str | None) -> bool:
    if document is None or not name:
        return False
    return any(isinstance(definition, OperationDefinitionNode) and definition.name is not None
               and definition.name.value == name for definition in document.definitions)
