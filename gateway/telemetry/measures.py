"""The gateway's own metrics at ``/metrics``: GraphQL requests per operation, department calls per department."""

from __future__ import annotations

from gateway.metrics import MetricsRegistry

ANONYMOUS_OPERATION = "anonymous"


class TelemetryMetrics:
    def __init__(self, registry: MetricsRegistry) -> None:
        self.requests = registry.counter(
            "yiwang_graphql_requests_total", "GraphQL operations by name, type and outcome (ok or error)",
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

    def observe_operation(self, name: str | None, operation_type: str, failed: bool, seconds: float) -> None:
        label = name or ANONYMOUS_OPERATION
        self.requests.inc(label, operation_type, "error" if failed else "ok")
        self.request_seconds.observe(seconds, label)

    def observe_department_call(self, department: str, operation: str, error_code: str | None,
                                seconds: float) -> None:
        self.department_calls.inc(department, operation)
        self.department_seconds.observe(seconds, department, operation)
        if error_code is not None:
            self.department_errors.inc(department, error_code)
