"""Schema extensions: the cross-cutting behaviour of every GraphQL operation."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Literal

from graphql import ASTValidationRule, GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension

from gateway.auth.principal import Role
from gateway.context import RequestContext
from gateway.exceptions import YiwangError

logger = logging.getLogger("yiwang.graphql")
INTERNAL_ERROR_MESSAGE = "Internal server error"


def shape_error(error: GraphQLError) -> GraphQLError:
    """Give every error a stable ``extensions.code``; never let an unexpected exception's text out."""
    original = error.original_error
    if isinstance(original, YiwangError):
        return GraphQLError(original.message, nodes=error.nodes, path=error.path,
                            extensions=original.to_extensions())
    if original is not None and not isinstance(original, GraphQLError):
        return GraphQLError(INTERNAL_ERROR_MESSAGE, nodes=error.nodes, path=error.path,
                            extensions={"code": "INTERNAL_SERVER_ERROR"})
    if error.extensions and "code" in error.extensions:
        return error
    code = "GRAPHQL_PARSE_FAILED" if error.message.startswith("Syntax Error") else "GRAPHQL_VALIDATION_FAILED"
    return GraphQLError(error.message, nodes=error.nodes, path=error.path, source=error.source,
                        positions=error.positions, extensions={**(error.extensions or {}), "code": code})


class UpstreamErrors(SchemaExtension):
    """Report each failed department once, next to the data of the departments that answered (partial results)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None:
            return
        errors = list(result.errors or ())
        context = self.execution_context.context
        if isinstance(context, RequestContext):
            for failure in context.failures.by_department.values():
                errors.append(GraphQLError(failure.error.message, path=failure.path,
                                           extensions=failure.error.to_extensions()))
        result.errors = errors or None


def validation_rules(rules: Sequence[type[ASTValidationRule]], *, introspection: Literal["all", "admins"],
                     ) -> type[SchemaExtension]:
    """An extension adding the same rule classes to every operation, and refusing introspection unless
    ``introspection`` is ``all`` or the caller is a ``platform_admin``.

    strawberry's limiters build a new rule class per extension instance; with one instance per request the
    validation cache (keyed by the rules) would never hit. Rules built once keep the key stable.
    """
    open_rules = tuple(rules)
    closed_rules = (*open_rules, NoSchemaIntrospectionCustomRule)

    class FixedValidationRules(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            context = self.execution_context.context
            admin = isinstance(context, RequestContext) and context.access.principal.has_role(Role.PLATFORM_ADMIN)
            fixed = open_rules if introspection == "all" or admin else closed_rules
            self.execution_context.validation_rules = self.execution_context.validation_rules + fixed
            yield

    return FixedValidationRules
