"""A department's failure on a span: what callers never see — the type of the exception behind it and the
``UpstreamError``'s detail (what went wrong, which field, which value) — as the OpenTelemetry ``exception`` event.

The ``department.fetch`` span gets it for a failed call (``TelemetryPlugin``); ``graphql.execute`` for a record's
field that fails after its call ended (``gateway.fanout.report_field_failures``), with the field's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from opentelemetry.trace import Span

from gateway.telemetry import naming

if TYPE_CHECKING:
    from gateway.exceptions import UpstreamError


def record_upstream_error(span: Span, error: UpstreamError, path: Sequence[str | int] | None = None, *,
                          count: int = 1) -> None:
    if not span.is_recording():
        return
    attributes: dict[str, str | int] = {
        naming.EXCEPTION_TYPE: error.cause_name(),
        naming.EXCEPTION_MESSAGE: error.detail,
        naming.DEPARTMENT: error.department,
        naming.ERROR_CODE: error.code,
    }
    if path:
        attributes[naming.GRAPHQL_PATH] = ".".join(map(str, path))
    if count > 1:
        attributes[naming.FAILURE_COUNT] = count
    span.add_event(naming.EXCEPTION_EVENT, attributes)
