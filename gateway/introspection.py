"""Introspection for callers who may not see the schema (production, anyone but a ``platform_admin``).

``__schema`` is refused at validation (``NoSchemaIntrospection``). ``__type(name:)`` is answered ``null`` — as if no
type had that name — so the schema stays hidden and a client that only probes for a type (the GraphQL-over-HTTP
audits do, and so do some client libraries) still gets a valid answer. ``__typename`` is no introspection.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from gateway.limits import select_operation

SCHEMA_FIELD = "__schema"
TYPE_FIELD = "__type"


class NoSchemaIntrospection(ASTValidationRule):
    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        if node.name.value == SCHEMA_FIELD:
            self.report_error(GraphQLError(
                "GraphQL introspection is not allowed here: only platform administrators may query __schema",
                node))


def hidden_type_keys(document: DocumentNode, operation_name: str | None) -> frozenset[str]:
    """Response keys of the ``__type`` fields at the root of the operation the request runs, through fragments."""
    operation = select_operation(document, operation_name)
    if not isinstance(operation, OperationDefinitionNode):
        return frozenset()
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    keys: set[str] = set()
    seen: set[str] = set()

    def walk(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value == TYPE_FIELD:
                    keys.add(selection.alias.value if selection.alias else TYPE_FIELD)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    walk(fragment.selection_set)

    walk(operation.selection_set)
    return frozenset(keys)


def hide_types(data: dict[str, Any] | None, errors: list[GraphQLError] | None, keys: frozenset[str],
               ) -> list[GraphQLError] | None:
    """Null the ``__type`` answers in ``data`` and drop errors under them; the remaining errors."""
    if data is not None:
        for key in keys & data.keys():
            data[key] = None
    if not errors:
        return errors
    kept = [error for error in errors if not (error.path and error.path[0] in keys)]
    return kept or None
