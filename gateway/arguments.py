"""Field arguments written as literals, coerced once per parsed document instead of on every request.

graphql-core coerces a field's argument AST into Python values each time the field executes: for a filter input
such as ``components(filter: {regionCode: "370811", departments: ["water"]})`` that walks every field of the input
type and cost about 6 % of the dashboard query's CPU. Documents come from strawberry's parser cache, so the same
field node arrives with every repeat of a query; when its arguments hold no variable, the coerced values depend on
nothing but the node and the field definition, and are kept.

The cache is keyed by the node's identity and holds the node (so the identity cannot be reused while the entry
lives); arguments that use variables, and arguments that fail to coerce, are coerced every time as before. Each
call gets its own top-level dict; nested input values are shared between requests and are not to be mutated
(strawberry builds its input objects from them without changing them).

A fast path behind ``YIWANG_FAST_PATH_ARGUMENTS`` (on by default): graphql-core's executor has no hook for argument
coercion, so ``install`` replaces the module global its executor calls. The app does it at start
(``gateway.fastpaths.configure_fast_paths``), never an import; ``install(False)`` puts graphql-core's own function back.
"""

from __future__ import annotations

import inspect
from typing import Any

from graphql import FieldNode, GraphQLField, ListValueNode, ObjectValueNode, ValueNode, VariableNode
from graphql.execution import executor, values

from gateway.fallbacks import unavailable

MAX_CACHED_FIELD_NODES = 4096
FAST_PATH = "arguments"

_coerce = values.get_argument_values
_CACHE: dict[int, tuple[Any, Any, bool, dict[str, Any]]] = {}


def get_argument_values(type_def: GraphQLField, node: FieldNode, variable_values: Any = None,
                        fragment_variable_values: Any = None, hide_suggestions: bool = False) -> dict[str, Any]:
    """``graphql.execution.values.get_argument_values``, remembered for arguments without variables."""
    entry = _CACHE.get(id(node))
    if entry is not None and entry[0] is node and entry[1] is type_def and entry[2] is hide_suggestions:
        return dict(entry[3])
    coerced = _coerce(type_def, node, variable_values, fragment_variable_values, hide_suggestions)
    if node.arguments and not any(_uses_variables(argument.value) for argument in node.arguments):
        if len(_CACHE) >= MAX_CACHED_FIELD_NODES:
            _CACHE.clear()
        _CACHE[id(node)] = (node, type_def, hide_suggestions, coerced)
        return dict(coerced)
    return coerced


def _uses_variables(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_uses_variables(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_uses_variables(field.value) for field in value.fields)
    return False


def install(on: bool = True) -> bool:
    """Make graphql-core's executor use the remembering version (``on``) or its own again; whether the remembering
    version is in use. Process-wide: the executor module reads ``get_argument_values`` from its globals. Installed
    only over graphql-core's own function, with the signature this module was written for; otherwise the executor
    keeps what it has (logged and counted as ``yiwang_fast_path_fallbacks_total{path="arguments"}``)."""
    current = getattr(executor, "get_argument_values", None)
    if not on:
        if current is get_argument_values:
            executor.get_argument_values = _coerce  # type: ignore[assignment]
        _CACHE.clear()
        return False
    if current is get_argument_values:
        return True
    try:
        if current is not _coerce:
            raise TypeError(f"graphql-core's executor calls {current!r}, not values.get_argument_values")
        if list(inspect.signature(_coerce).parameters) != list(inspect.signature(get_argument_values).parameters):
            raise TypeError(f"get_argument_values{inspect.signature(_coerce)} changed")
    except TypeError as error:
        unavailable(FAST_PATH, "fast_path_arguments", error)
        return False
    executor.get_argument_values = get_argument_values  # type: ignore[assignment]
    return True


def installed() -> bool:
    return getattr(executor, "get_argument_values", None) is get_argument_values
