"""Limits on what one operation may ask for — nesting depth, aliases, estimated cost — checked after the document
validated, so they only ever see well-formed documents (every fragment defined, no cycles, every field known).

One walk of the operation (fragments expanded, each fragment's summary computed once per context) gives its depth,
its alias count and its cost expression (``gateway.cost``); the summary is kept per parsed document and operation.
Each limit is a small class configured in ``__init__``; a refusal is a normal GraphQL error with a stable code and
the numbers in ``extensions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    get_named_type,
    get_nullable_type,
    is_list_type,
)

from gateway.auth.principal import Principal, Role
from gateway.cost import (
    DEFAULT_ASSUMED_SIZE,
    OBJECT_WEIGHT,
    TYPE_WEIGHTS,
    CostExpr,
    CostModel,
    Size,
    add,
    evaluate,
    saturated,
)
from gateway.documents import DocumentMemo

ANALYSES_KEPT = 512
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
COST_TOO_EXPENSIVE = "COST_ESTIMATED_TOO_EXPENSIVE"
KNOWN_ROLES = frozenset(role.value for role in Role)
INTROSPECTION_ROOTS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}

Sized = tuple[tuple[str, Size], ...]  # list fields of a connection and the size its parent's slicing argument gave


@dataclass(frozen=True, slots=True)
class OperationSummary:
    depth: int  # nested selection sets, introspection not counted (as strawberry's QueryDepthLimiter counted)
    aliases: int  # aliased fields, counted once per use of their fragment
    cost: CostExpr


class _Walk:
    """Summarises selection sets of one operation; fragments are summarised once per (name, sizing, counted)."""

    def __init__(self, schema: GraphQLSchema, model: CostModel, document: DocumentNode,
                 operation: OperationDefinitionNode) -> None:
        self.schema = schema
        self.model = model
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.variable_defaults = {
            v.variable.name.value: max(int(v.default_value.value), 0)
            for v in operation.variable_definitions or () if isinstance(v.default_value, IntValueNode)}
        self.memo: dict[tuple[str, Sized, bool], tuple[int, int, CostExpr]] = {}

    def selections(self, selection_set: SelectionSetNode, parent: Any, sized: Sized,
                   counted: bool) -> tuple[int, int, CostExpr]:
        """(depth, aliases, cost) of a selection set on ``parent``; ``counted`` False inside introspection."""
        depth = aliases = 0
        terms: list[tuple[Size, CostExpr]] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                aliases += selection.alias is not None
                if selection.selection_set is None:
                    continue  # a leaf (or __typename): no depth, no cost
                name = selection.name.value
                field = INTROSPECTION_ROOTS.get(name) or parent.fields[name]
                inner_counted = counted and name not in INTROSPECTION_ROOTS
                child_sized, size = self._sizing(selection, parent, field, sized) if inner_counted else ((), 1)
                child_depth, child_aliases, item = self.selections(
                    selection.selection_set, get_named_type(field.type), child_sized, inner_counted)
                aliases += child_aliases
                if inner_counted:
                    depth = max(depth, child_depth + 1)
                    weight = TYPE_WEIGHTS.get(get_named_type(field.type).name, OBJECT_WEIGHT)
                    terms.append((size, add(weight, [(1, item)])))
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = self.schema.get_type(condition.name.value) if condition is not None else parent
                summary = self.selections(selection.selection_set, scope, sized, counted)
            elif isinstance(selection, FragmentSpreadNode):
                key = (selection.name.value, sized, counted)
                summary = self.memo.get(key)  # type: ignore[assignment]
                if summary is None:
                    fragment = self.fragments[selection.name.value]
                    scope = self.schema.get_type(fragment.type_condition.name.value)
                    summary = self.memo[key] = self.selections(fragment.selection_set, scope, sized, counted)
            else:  # pragma: no cover - the three kinds of selection
                continue
            depth = max(depth, summary[0])
            aliases += summary[1]
            terms.append((1, summary[2]))
        return depth, aliases, add(0, terms) if counted else 0

    def _sizing(self, node: FieldNode, parent: GraphQLObjectType | GraphQLInterfaceType, field: GraphQLField,
                sized: Sized) -> tuple[Sized, Size]:
        """(the sizes this field hands to its connection's lists, how many items the field itself holds)."""
        name = node.name.value
        entry = self.model.list_size(parent.name, name)
        is_list = is_list_type(get_nullable_type(field.type))
        given = dict(sized).get(name)
        if given is not None:
            size: Size = given
        elif entry is not None:
            arguments = {argument.name.value: argument.value for argument in node.arguments or ()}
            size = self.model.slicing_size(entry, field, arguments, self.variable_defaults)
        else:
            size = DEFAULT_ASSUMED_SIZE
        child_sized: Sized = tuple((sized_field, size) for sized_field in entry.sized_fields or ()) if entry else ()
        return child_sized, size if is_list else 1


def summarise(schema: GraphQLSchema, model: CostModel, document: DocumentNode,
              operation: OperationDefinitionNode) -> OperationSummary:
    root = schema.get_root_type(OperationType(operation.operation.value))
    depth, aliases, cost = _Walk(schema, model, document, operation).selections(operation.selection_set, root, (),
                                                                               True)
    return OperationSummary(depth, saturated(aliases), cost)


def limit_error(message: str, code: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


class DepthLimit:
    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth

    def check(self, summary: OperationSummary) -> GraphQLError | None:
        if summary.depth <= self.max_depth:
            return None
        return limit_error(f"The operation nests {summary.depth} levels deep; the limit is {self.max_depth}.",
                           VALIDATION_FAILED, depth={"actual": summary.depth, "max": self.max_depth})


class AliasLimit:
    def __init__(self, max_aliases: int) -> None:
        self.max_aliases = max_aliases

    def check(self, summary: OperationSummary) -> GraphQLError | None:
        if summary.aliases <= self.max_aliases:
            return None
        return limit_error(f"The operation uses {summary.aliases} aliases; the limit is {self.max_aliases}.",
                           VALIDATION_FAILED, aliases={"actual": summary.aliases, "max": self.max_aliases})


class CostLimit:
    """A budget per caller: the largest of its roles' budgets (``role_budgets``, else ``default_budget``); callers
    without a known role get ``default_budget``."""

    def __init__(self, default_budget: int, role_budgets: Mapping[Role, int] | None = None) -> None:
        self.default_budget = default_budget
        self.role_budgets = {str(role): budget for role, budget in (role_budgets or {}).items()}

    def budget_for(self, principal: Principal | None) -> int:
        roles = principal.roles & KNOWN_ROLES if principal is not None else frozenset()
        return max((self.role_budgets.get(role, self.default_budget) for role in roles), default=self.default_budget)

    def check(self, summary: OperationSummary, variables: Mapping[str, Any] | None,
              principal: Principal | None) -> GraphQLError | None:
        estimated = evaluate(summary.cost, variables)
        budget = self.budget_for(principal)
        if estimated <= budget:
            return None
        return limit_error(
            f"The operation's estimated cost {estimated} exceeds this caller's budget of {budget}: ask for fewer "
            "items (`first`) or fewer fields of objects, or split it into several operations.",
            COST_TOO_EXPENSIVE, cost={"estimated": estimated, "max": budget})


class OperationLimits:
    """The limits of the operation a request runs, on a document that passed validation."""

    def __init__(self, depth: DepthLimit, aliases: AliasLimit, cost: CostLimit,
                 analyses_kept: int = ANALYSES_KEPT) -> None:
        self.depth = depth
        self.aliases = aliases
        self.cost = cost
        self._model: tuple[GraphQLSchema, CostModel] | None = None
        self._summaries: DocumentMemo[OperationSummary] = DocumentMemo(analyses_kept)

    def model(self, schema: GraphQLSchema) -> CostModel:
        if self._model is None or self._model[0] is not schema:
            self._model = (schema, CostModel(schema))
        return self._model[1]

    def check(self, schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
              variables: Mapping[str, Any] | None, principal: Principal | None) -> list[GraphQLError]:
        operation = select_operation(document, operation_name)
        if isinstance(operation, GraphQLError):
            return [operation]
        summary = self.summary(schema, document, operation)
        shape_errors = [e for e in (self.depth.check(summary), self.aliases.check(summary)) if e is not None]
        if shape_errors:
            return shape_errors
        too_expensive = self.cost.check(summary, variables, principal)
        return [too_expensive] if too_expensive is not None else []

    def summary(self, schema: GraphQLSchema, document: DocumentNode,
                operation: OperationDefinitionNode) -> OperationSummary:
        name = operation.name.value if operation.name else None
        return self._summaries.get(document, name,
                                   lambda: summarise(schema, self.model(schema), document, operation))


def select_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | GraphQLError:
    """The operation a request names, or its only one (GraphQL spec GetOperation)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        if len(operations) == 1:
            return operations[0]
        return limit_error("Must provide operation name if query contains multiple operations."
                           if operations else "Must provide an operation.", VALIDATION_FAILED)
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    return limit_error(f"Unknown operation named '{operation_name}'.", VALIDATION_FAILED)


__all__ = ["AliasLimit", "CostLimit", "DepthLimit", "OperationLimits", "OperationSummary",
           "select_operation", "summarise"]
