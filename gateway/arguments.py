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
"""

from __future__ import annotations

from typing import Any

from graphql import FieldNode, GraphQLField, ListValueNode, ObjectValueNode, ValueNode, VariableNode
from graphql.execution import executor, values

MAX_CACHED_FIELD_NODES = 4096

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


def install() -> None:
    """Make graphql-core's executor use the remembering version (once per process)."""
    if executor.get_argument_values is _coerce:
        executor.get_argument_values = get_argument_values  # type: ignore[assignment]
