"""What an operation costs, estimated from its document and variables before anything runs.

The model is the one of the IBM GraphQL cost directives as Apollo Router's demand control applies them: every object
(an object, interface or union value) costs 1 (``TYPE_WEIGHTS`` names the few that cost 0: counts computed in memory),
scalars and enums cost 0, and a list multiplies the cost of one item by its size. A list's size is

- its slicing argument (``first``) when the field has one: the literal, or the variable's value (its declared
  default, then the argument's default, when the request does not give a usable integer), or the argument's
  default when it is absent; ``sizedFields`` carry that size to the lists of a connection (``edges``, ``nodes``);
- otherwise the field's ``assumedSize``, or ``DEFAULT_ASSUMED_SIZE`` for a list of objects the table below does not
  name.

So ``components(first: 10000) { nodes { id location { lng lat } } }`` costs 1 (the connection) + 10,000 × (1
component + 1 point) = 20,001. Introspection fields cost nothing (introspection has its own depth rule and is for
platform admins in production). The sizes show in the printed SDL as ``@listSize`` directives.

An estimate is compiled once per document and operation into a small expression; only sizes that come from
variables are left to evaluate per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

import strawberry
from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    IntValueNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)
from strawberry import UNSET
from strawberry.schema_directive import Location

from gateway.execution import DEFINITION_BACKREF

DEFAULT_ASSUMED_SIZE = 100
# Estimates saturate here: a document whose fragments multiply out beyond it is refused all the same, and the number
# stays a JSON-safe integer in the error.
COST_CEILING = 10**15
GRAPHQL_MAX_INT = 2**31 - 1
SLICING_ARGUMENT = "first"


@strawberry.schema_directive(locations=[Location.FIELD_DEFINITION], name="listSize", description=(
    "Cost analysis (IBM GraphQL cost directives): how many items this list holds. Every object costs 1, scalars and "
    "enums 0, a list multiplies its items' cost by its size: the slicing argument's value (its default when absent) "
    "for `sizedFields` or the list itself, else `assumedSize`. Operations estimated above the caller's budget are "
    "refused with COST_ESTIMATED_TOO_EXPENSIVE before any department is called"))
class ListSize:
    # UNSET: left out of the printed directive
    assumed_size: int | None = UNSET
    slicing_arguments: list[str] | None = UNSET
    sized_fields: list[str] | None = UNSET
    require_one_slicing_argument: bool | None = UNSET

    @property
    def assumed(self) -> int:
        return self.assumed_size if isinstance(self.assumed_size, int) else DEFAULT_ASSUMED_SIZE


CONNECTION = ListSize(slicing_arguments=[SLICING_ARGUMENT], sized_fields=["edges", "nodes"],
                      require_one_slicing_argument=False)
CATALOGUE_SIZE = 200  # class catalogues: a city's own may be larger than the built-in one
# Lists of objects, by "Type.field" (an interface's entry covers its implementations).
LIST_SIZES: dict[str, ListSize] = {
    "Query.components": CONNECTION,
    "Query.events": CONNECTION,
    "Query.alerts": CONNECTION,
    "Query.departments": ListSize(assumed_size=20),
    "Query.componentClasses": ListSize(assumed_size=CATALOGUE_SIZE),
    "Query.eventClasses": ListSize(assumed_size=CATALOGUE_SIZE),
    "Department.componentClasses": ListSize(assumed_size=CATALOGUE_SIZE),
    "Component.events": ListSize(slicing_arguments=[SLICING_ARGUMENT], require_one_slicing_argument=False),
    "Component.alerts": ListSize(assumed_size=10),
    "AirQualityStation.hourly": ListSize(assumed_size=24),
    "RegionStatistics.casesByClass": ListSize(assumed_size=CATALOGUE_SIZE),
    "RegionStatistics.casesByStatus": ListSize(assumed_size=10),
    "RegionStatistics.alertsByLevel": ListSize(assumed_size=4),
    # Provinces of the country (34), cities of a province (≤ 21), districts of a city: a typical fan-out, not the
    # largest; the whole tree comes from one department answer per region asked.
    "RegionStatistics.children": ListSize(assumed_size=20),
}
# Objects that cost less than 1 (Apollo's ``@cost(weight:)`` on a type): counts computed in memory from an answer
# the enclosing object already paid for.
TYPE_WEIGHTS: dict[str, int] = {"ClassCount": 0, "StatusCount": 0, "LevelCount": 0}
OBJECT_WEIGHT = 1


@dataclass(frozen=True, slots=True)
class VariableSize:
    """A list size given by a variable; ``fallback`` when the request gives no usable integer."""

    name: str
    fallback: int


Size = Union[int, VariableSize]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True, slots=True, eq=False)
class CostSum:
    """``constant`` plus, for each term, size × the cost of one item. Shared by every use of a fragment."""

    constant: int
    terms: tuple[tuple[Size, CostExpr], ...]


CostExpr = Union[int, CostSum]  # noqa: UP007


def saturated(value: int) -> int:
    return min(value, COST_CEILING)


def add(constant: int, terms: list[tuple[Size, CostExpr]]) -> CostExpr:
    """The sum, folded to an integer when no size in it depends on a variable."""
    total = constant
    kept: list[tuple[Size, CostExpr]] = []
    for size, item in terms:
        if isinstance(size, int) and isinstance(item, int):
            total = saturated(total + size * item)
        elif size != 0 and item != 0:
            kept.append((size, item))
    return CostSum(total, tuple(kept)) if kept else total


def evaluate(expression: CostExpr, variables: Mapping[str, Any] | None) -> int:
    """The estimate for these variables; each shared part is evaluated once."""
    if isinstance(expression, int):
        return expression
    done: dict[int, int] = {}
    values = variables or {}

    def value_of(node: CostSum) -> int:
        known = done.get(id(node))
        if known is not None:
            return known
        total = node.constant
        for size, item in node.terms:
            count = size if isinstance(size, int) else _variable_size(size, values)
            total = saturated(total + count * (item if isinstance(item, int) else value_of(item)))
        done[id(node)] = total
        return total

    return value_of(expression)


def _variable_size(size: VariableSize, variables: Mapping[str, Any]) -> int:
    value = variables.get(size.name)
    # Anything but an Int fails variable coercion later, with its own error; estimate the fallback meanwhile.
    if type(value) is int and -GRAPHQL_MAX_INT - 1 <= value <= GRAPHQL_MAX_INT:
        return max(value, 0)
    return size.fallback


class CostModel:
    """The list sizes of one GraphQL schema: ``LIST_SIZES``, with interfaces' entries given to their implementations
    and ``DEFAULT_ASSUMED_SIZE`` for any other list of objects."""

    def __init__(self, schema: GraphQLSchema, sizes: Mapping[str, ListSize] = LIST_SIZES) -> None:
        self.sizes: dict[tuple[str, str], ListSize] = {}
        # (connection type, field): lists sized by the slicing argument of the field that returned the connection
        self.sized_by_parent: set[tuple[str, str]] = set()
        for type_ in _fielded_types(schema):
            owners = [type_.name, *(interface.name for interface in type_.interfaces)]
            for field_name, field in type_.fields.items():
                entry = next((sizes[key] for key in (f"{owner}.{field_name}" for owner in owners) if key in sizes),
                             None)
                if entry is None:
                    continue
                self.sizes[(type_.name, field_name)] = entry
                returned = get_named_type(field.type).name
                self.sized_by_parent.update((returned, sized) for sized in entry.sized_fields or ())

    def list_size(self, parent: str, field_name: str) -> ListSize | None:
        return self.sizes.get((parent, field_name))

    def slicing_size(self, entry: ListSize, field: GraphQLField, arguments: Mapping[str, ValueNode],
                     variable_defaults: Mapping[str, int]) -> Size:
        """The size the field's slicing argument asks for."""
        for name in entry.slicing_arguments or ():
            fallback = _argument_default(field, name, entry)
            value = arguments.get(name)
            if isinstance(value, IntValueNode):
                return max(int(value.value), 0)
            if isinstance(value, VariableNode):
                return VariableSize(value.name.value, variable_defaults.get(value.name.value, fallback))
            if name in field.args:
                return fallback
        return entry.assumed


def _argument_default(field: GraphQLField, name: str, entry: ListSize) -> int:
    argument = field.args.get(name)
    default = argument.default_value if argument is not None else None
    return max(default, 0) if type(default) is int else entry.assumed


def _fielded_types(schema: GraphQLSchema) -> list[GraphQLObjectType | GraphQLInterfaceType]:
    return [t for t in schema.type_map.values()
            if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType)) and not t.name.startswith("__")]


def is_object_list(field: GraphQLField) -> bool:
    return is_list_type(get_nullable_type(field.type)) and is_composite_type(get_named_type(field.type))


def show_list_sizes(schema: GraphQLSchema, model: CostModel) -> None:
    """Put each list's size on its field as ``@listSize``, so the printed SDL shows what the analysis assumes.

    Fields sized by their parent (a connection's ``edges`` and ``nodes``) carry none of their own. The strawberry
    fields are module-level and shared by every schema; the model is static, so this gives every build the same."""
    for type_ in _fielded_types(schema):
        for field_name, field in type_.fields.items():
            definition = field.extensions.get(DEFINITION_BACKREF)
            if definition is None or not hasattr(definition, "directives"):
                continue
            entry = model.list_size(type_.name, field_name)
            if entry is None and is_object_list(field) and (type_.name, field_name) not in model.sized_by_parent:
                entry = ListSize(assumed_size=DEFAULT_ASSUMED_SIZE)
            others = [d for d in definition.directives or () if not isinstance(d, ListSize)]
            definition.directives = [*others, entry] if entry is not None else others
