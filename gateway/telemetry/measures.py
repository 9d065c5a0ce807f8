"""The gateway's own metrics at ``/metrics``: GraphQL requests per operation, department calls per department."""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.metrics import OVERFLOW_LABEL, MetricsRegistry

ANONYMOUS_OPERATION = "anonymous"
OUTCOME_OK = "ok"
OUTCOME_ERROR = "error"  # the department failed (or a bug under a plugin)
OUTCOME_CALLER_ERROR = "caller_error"  # refused for the caller's input: not the department's failure
OUTCOME_SKIPPED = "skipped"  # the department cannot take the query's filter: left out, named in extensions.skipped
OUTCOME_CANCELLED = "cancelled"  # abandoned before it ended: nobody waited for the answer
DEFAULT_MAX_OPERATION_NAMES = 100
GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}", re.ASCII)


class OperationLabels:
    """The ``operation`` label's values, bounded: the names an operator lists always, then the first
    ``max_names`` other names that a document really declared; every other name is counted as ``other``."""

    def __init__(self, known: Iterable[str] = (), max_names: int = DEFAULT_MAX_OPERATION_NAMES) -> None:
        if max_names < 0:
            raise ValueError("max_names must be >= 0")
        self.known = frozenset(known)
        self.max_names = max_names
        self.seen: set[str] = set()

    def label(self, name: str | None, declared: bool) -> str:
        if not name:
            return ANONYMOUS_OPERATION
        if name in self.known or name in self.seen:
            return name
        if declared and len(self.seen) < self.max_names and GRAPHQL_NAME.fullmatch(name):
            self.seen.add(name)
            return name
        return OVERFLOW_LABEL


class TelemetryMetrics:
    def __init__(self, registry: MetricsRegistry, operations: OperationLabels | None = None) -> None:
        self.operations = operations or OperationLabels()
        self.requests = registry.counter(
            "yiwang_graphql_requests_total", "GraphQL operations by name, type and outcome (ok, error or cancelled)",
            ("operation", "type", "outcome"))
        self.request_seconds = registry.histogram(
            "yiwang_graphql_request_duration_seconds", "Time to answer a GraphQL operation", ("operation",))
        self.department_calls = registry.counter(
            "yiwang_department_calls_total", "Calls to department systems (connector operations)",
            ("department", "operation"))
        self.department_seconds = registry.histogram(
            "yiwang_department_call_duration_seconds", "Time a department call took, failures included",
            ("department", "operation"))
        self.department_errors = registry.counter(
            "yiwang_department_call_errors_total", "Failed department calls by error code", ("department", "code"))
        self.department_outcomes = registry.counter(
            "yiwang_department_call_outcomes_total",
            "Department calls by outcome: ok, error (the department's), caller_error, skipped, cancelled",
            ("department", "outcome"))

    def observe_operation(self, name: str | None, operation_type: str, failed: bool, seconds: float,
                          declared: bool = True, *, cancelled: bool = False) -> None:
        """``declared``: the document holds an operation of that name (so the name is not just a request field)."""
        label = self.operations.label(name, declared)
        outcome = OUTCOME_CANCELLED if cancelled else OUTCOME_ERROR if failed else OUTCOME_OK
        self.requests.inc(label, operation_type, outcome)
        self.request_seconds.observe(seconds, label)

    def observe_department_call(self, department: str, operation: str, outcome: str, error_code: str | None,
                                seconds: float) -> None:
        """Only ``error`` counts as the department's failure; a cancelled call's duration is not observed (it says
        how long nobody waited, not how long the department takes)."""
        self.department_calls.inc(department, operation)
        self.department_outcomes.inc(department, outcome)
        if outcome != OUTCOME_CANCELLED:
            self.department_seconds.observe(seconds, department, operation)
        if outcome == OUTCOME_ERROR and error_code is not None:
            self.department_errors.inc(department, error_code)
