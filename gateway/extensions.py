"""Schema extensions: the cross-cutting behaviour of every GraphQL operation."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Literal

import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    validate,
)
from graphql.validation import MaxIntrospectionDepthRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import ExecutionContext, ExecutionResult

from gateway.auth.principal import Role
from gateway.context import RequestContext
from gateway.documents import DocumentMemo
from gateway.exceptions import YiwangError
from gateway.fallbacks import fell_back
from gateway.introspection import NoSchemaIntrospection, hidden_type_keys, hide_types
from gateway.limits import OperationLimits
from gateway.suggestions import remove_suggestions

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
    return GraphQLError(client_wording(error.message), nodes=error.nodes, path=error.path, source=error.source,
                        positions=error.positions, extensions={**(error.extensions or {}), "code": code})


# A scalar's parse failure ends in the Python parser's own words ("Expected 3 digits, got '9-0'", "month must be in
# 1..12"): the client gets what the scalar expects instead.
SCALAR_PARSE_FAILURE = re.compile(r'(Value cannot represent an? (\w+): "(?:[^"\\]|\\.)*")\. .*$', re.DOTALL)
SCALAR_EXPECTATIONS = {"DateTime": "an ISO 8601 date-time with a UTC offset, such as 2026-11-01T08:00:00+08:00",
                       "Date": "an ISO 8601 date, such as 2026-11-01", "JSON": "a JSON value"}


PYTHON_LITERALS = re.compile(r"(?<![\w'\"])(True|False|None)(?![\w'\"])")
JSON_LITERALS = {"True": "true", "False": "false", "None": "null"}


def client_wording(message: str) -> str:
    """graphql-core's and strawberry's messages in GraphQL's terms, not Python's (graphql-core shows a value it
    cannot coerce with Python's repr)."""
    message = PYTHON_LITERALS.sub(lambda match: JSON_LITERALS[match.group(1)], message)
    match = SCALAR_PARSE_FAILURE.search(message)
    if match is not None:
        expected = SCALAR_EXPECTATIONS.get(match.group(2), f"a valid {match.group(2)}")
        message = message[:match.start()] + f"{match.group(1)}: expected {expected}"
    return message


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


class DocumentValidation:
    """graphql-core's validation, remembered per parsed document and rule set."""

    def __init__(self, *, hide_suggestions: bool, kept: int) -> None:
        self.hide_suggestions = hide_suggestions
        self._results: DocumentMemo[list[GraphQLError]] = DocumentMemo(kept)

    def validate(self, schema: GraphQLSchema, document: DocumentNode,
                 rules: tuple[type[ASTValidationRule], ...]) -> list[GraphQLError]:
        return list(self._results.get(document, rules, lambda: validate(
            schema, document, rules, hide_suggestions=self.hide_suggestions)))


def checked_operations(limits: OperationLimits, *, introspection: Literal["all", "admins"], hide_suggestions: bool,
                       documents_kept: int) -> type[SchemaExtension]:
    """An extension validating every operation — the standard rules, strawberry's, the introspection depth rule, and
    no introspection unless ``introspection`` is ``all`` or the caller is a ``platform_admin`` — and, once the
    document is valid, checking ``limits`` on the operation the request runs. With ``hide_suggestions`` no error
    suggests names (see gateway/suggestions.py)."""
    validation = DocumentValidation(hide_suggestions=hide_suggestions, kept=documents_kept)
    hidden_types: DocumentMemo[frozenset[str]] = DocumentMemo(documents_kept)
    open_rules = (MaxIntrospectionDepthRule, MaybeNullValidationRule, OneOfInputValidationRule)
    closed_rules = (*open_rules, NoSchemaIntrospection)

    class CheckedOperations(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            yield
            result = self.execution_context.result
            if hide_suggestions and result is not None and result.errors:
                remove_suggestions(result.errors)

        def on_validate(self) -> Iterator[None]:
            execution = self.execution_context
            context = execution.context
            principal = context.access.principal if isinstance(context, RequestContext) else None
            admin = principal is not None and principal.has_role(Role.PLATFORM_ADMIN)
            rules = (*execution.validation_rules, *(open_rules if introspection == "all" or admin else closed_rules))
            schema = execution.schema._schema
            document = execution.graphql_document
            assert document is not None  # strawberry validates parsed documents only
            errors = validation.validate(schema, document, rules)
            if not errors:
                variables = execution.variables if isinstance(execution.variables, Mapping) else None
                errors = limits.check(schema, document, requested_operation(execution), variables, principal)
            execution.pre_execution_errors = errors
            self._hidden_types = not (introspection == "all" or admin)
            yield

        def on_execute(self) -> Iterator[None]:
            yield
            execution = self.execution_context
            result = execution.result
            document = execution.graphql_document
            if not getattr(self, "_hidden_types", False) or result is None or document is None:
                return
            name = requested_operation(execution)
            keys = hidden_types.get(document, name, lambda: hidden_type_keys(document, name))
            if keys:
                result.errors = hide_types(result.data, result.errors, keys)

    return CheckedOperations


# The operationName the caller gave, in a tuple (``(None,)``: none given), while a RequestedOperationSchema runs.
_REQUESTED_OPERATION: ContextVar[tuple[str | None] | None] = ContextVar("yiwang_requested_operation", default=None)


class RequestedOperationSchema(strawberry.Schema):
    """A schema that remembers the operationName its caller passed to ``execute``/``execute_sync`` (public API) for
    ``requested_operation``: strawberry's ``ExecutionContext`` keeps it only under a private name."""

    async def execute(self, query: str | None, variable_values: dict[str, Any] | None = None,
                      context_value: Any | None = None, root_value: Any | None = None,
                      operation_name: str | None = None, *args: Any, **kwargs: Any) -> ExecutionResult:
        token = _REQUESTED_OPERATION.set((operation_name,))
        try:
            return await super().execute(query, variable_values, context_value, root_value, operation_name,
                                         *args, **kwargs)
        finally:
            _REQUESTED_OPERATION.reset(token)

    def execute_sync(self, query: str | None, variable_values: dict[str, Any] | None = None,
                     context_value: Any | None = None, root_value: Any | None = None,
                     operation_name: str | None = None, *args: Any, **kwargs: Any) -> ExecutionResult:
        token = _REQUESTED_OPERATION.set((operation_name,))
        try:
            return super().execute_sync(query, variable_values, context_value, root_value, operation_name,
                                        *args, **kwargs)
        finally:
            _REQUESTED_OPERATION.reset(token)


def requested_operation(execution: ExecutionContext) -> str | None:
    """The operationName the request gave. strawberry's ``operation_name`` falls back to the first operation's name,
    which would run the first of several operations where the GraphQL spec asks for an error. Under a schema that is
    not a ``RequestedOperationSchema`` that fallback is all there is (counted in
    ``yiwang_fast_path_fallbacks_total{path="operation_name"}``)."""
    remembered = _REQUESTED_OPERATION.get()
    if remembered is None:
        fell_back("operation_name", "not_remembered")
        return execution.operation_name
    return remembered[0]
