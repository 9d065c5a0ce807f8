"""The fast paths that rely on other projects' internals, switched on and off at app start.

- lean spans and the current span read on the API's ContextVar (telemetry/lean.py, current.py): ``fast_path_spans``,
  off by default; relies on about a dozen private OpenTelemetry SDK and API names and on processor hooks' bytecode;
  plain path: the SDK's tracer and the API's context calls.
- literal arguments coerced once per document (arguments.py): ``fast_path_arguments``, on; replaces graphql-core's
  executor module global ``get_argument_values``; plain path: graphql-core's own function.
- compiled list completers (execution.py): ``fast_path_lists``, on; overrides graphql-core's ``complete_list_value``
  and reads strawberry's field definitions; plain path: strawberry's execution context.

Each counts its fallbacks in ``yiwang_fast_path_fallbacks_total{path, reason}`` (gateway/fallbacks.py), and each is
compared with its plain path by tests/test_fast_paths.py, which ``make test-floor`` also runs at the lowest versions
pyproject.toml allows. ``configure_fast_paths`` is process-wide (graphql-core's executor and the OpenTelemetry
context are): the app built last decides, and an app built with a path off puts the plain path back.
"""

from __future__ import annotations

from typing import Any

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gateway import arguments
from gateway.execution import FastListExecutionContext
from gateway.fallbacks import register_metrics
from gateway.metrics import MetricsRegistry
from gateway.settings import Settings
from gateway.telemetry import current


def configure_fast_paths(settings: Settings, registry: MetricsRegistry | None = None) -> None:
    """Switch the process-wide fast paths as ``settings`` say, and show their fallbacks on ``registry``."""
    arguments.install(settings.fast_path_arguments)
    current.use_context_variable(settings.fast_path_spans and settings.tracing)
    if registry is not None:
        register_metrics(registry)


def execution_context_class(settings: Settings) -> type[Any]:
    """The GraphQL execution context the settings ask for: compiled list completion, or strawberry's own."""
    return FastListExecutionContext if settings.fast_path_lists else StrawberryGraphQLCoreExecutionContext
