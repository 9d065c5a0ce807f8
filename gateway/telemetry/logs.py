"""Structured logs: one JSON object per line, with the trace and span id of the request the line belongs to."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry import trace

from gateway.telemetry.store import format_span_id, format_trace_id

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is written as a field.
STANDARD_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            payload["trace_id"] = format_trace_id(span_context.trace_id)
            payload["span_id"] = format_span_id(span_context.span_id)
        payload.update((key, value) for key, value in vars(record).items()
                       if key not in STANDARD_RECORD_ATTRIBUTES and not key.startswith("_"))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


def configure_json_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the gateway's loggers and the server's (uvicorn's handlers get the formatter)."""
    formatter = JsonLogFormatter()
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for name in ("", *SERVER_LOGGERS):
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(formatter)
    gateway_logger = logging.getLogger("yiwang")
    if gateway_logger.level == logging.NOTSET:
        gateway_logger.setLevel(level)
