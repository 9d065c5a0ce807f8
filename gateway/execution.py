"""Fast completion of large lists of plain objects.

graphql-core completes every field of every list item through the general executor (resolve info, resolver call,
awaitable check, null check, serialisation): about 20 µs a field, so a list of 5,000 components with ten fields costs
a second. Most list items here are plain objects whose selected fields are plain attributes (strawberry "basic"
fields: no resolver, no permission, no field extension). For those, this execution context completes the whole list
with a plan compiled once per list and type: for each response key, the attribute to read, whether it may be null,
and how to complete it (serialise a leaf, recurse into an object, list or abstract type).

Field collection (fragments, ``@skip``/``@include`` with variables, aliases) is graphql-core's own
``collect_subfields``, so the selected keys are the ones the general executor would produce. Whenever a list holds
anything the plan does not cover — a field with a resolver or arguments, ``@defer``, a null in a non-null position,
resolver middleware, a field whose value raises — the list is completed by the general executor instead, which then
reports errors exactly as usual. The results are identical either way (tests compare both).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLAbstractType,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

DEFINITION_BACKREF = "strawberry-definition"
RECORD_READERS = "__record_readers__"  # on classes whose instances read each field from ``_record``
FAST_LIST_MIN_ITEMS = 8

Completer = Callable[[Any], Any]


class _Unplannable(Exception):
    """This selection or value needs the general executor."""


class FastListExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def complete_list_value(  # type: ignore[override]
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        if type(result) is list and len(result) >= FAST_LIST_MIN_ITEMS and not _has_middleware(self):
            try:
                return _list_completer(self, return_type.of_type, field_details_list)(result)
            except Exception:  # _Unplannable, or a field that fails: the general executor reports it at its path
                pass
        return super().complete_list_value(return_type, field_details_list, info, path, result, position_context)


def _has_middleware(context: Any) -> bool:
    manager = context.middleware_manager
    return manager is not None and bool(manager.middlewares)


def _list_completer(context: Any, item_type: GraphQLOutputType, field_details_list: Any) -> Completer:
    item_non_null = is_non_null_type(item_type)
    complete_item = _completer(context, _nullable(item_type), field_details_list)

    def complete(values: Any) -> list[Any]:
        out: list[Any] = []
        append = out.append
        for value in values:
            if value is None:
                if item_non_null:
                    raise _Unplannable
                append(None)
            else:
                append(complete_item(value))
        return out

    return complete


def _nullable(type_: GraphQLOutputType) -> GraphQLOutputType:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _completer(context: Any, type_: GraphQLOutputType, field_details_list: Any) -> Completer:
    if is_leaf_type(type_):
        return _leaf_completer(type_)
    if is_list_type(type_):
        return _list_completer(context, type_.of_type, field_details_list)  # type: ignore[attr-defined]
    if is_object_type(type_):
        return _object_completer(context, type_, field_details_list)  # type: ignore[arg-type]
    if is_abstract_type(type_):
        return _abstract_completer(context, type_, field_details_list)  # type: ignore[arg-type]
    raise _Unplannable


def _leaf_completer(type_: Any) -> Completer:
    serialize = type_.serialize
    if isinstance(type_, GraphQLEnumType):
        return _memoized(serialize)
    passthrough = _PASSTHROUGH.get(type_)

    def complete(value: Any) -> Any:
        if type(value) is passthrough:
            return value
        serialized = serialize(value)
        if serialized is None:
            raise _Unplannable
        return serialized

    return complete


# Values of these Python types serialise to themselves in these built-in scalars: skip the serializer call.
_PASSTHROUGH: dict[Any, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


def _memoized(serialize: Callable[[Any], Any]) -> Completer:
    """Enum values are few: serialise each once (strawberry's enum serializer is slow per call)."""
    known: dict[Any, Any] = {}

    def complete(value: Any) -> Any:
        try:
            return known[value]
        except (KeyError, TypeError):
            pass
        serialized = serialize(value)
        if serialized is None:
            raise _Unplannable
        with suppress(TypeError):  # an unhashable value is not memoised
            known[value] = serialized
        return serialized

    return complete


def _runtime_type_name(value: Any) -> str:
    definition = getattr(type(value), "__strawberry_definition__", None)
    if definition is None:
        raise _Unplannable
    return str(definition.name)


def _abstract_completer(context: Any, type_: GraphQLAbstractType, field_details_list: Any) -> Completer:
    schema = context.schema
    plans: dict[str, Completer] = {}

    def complete(value: Any) -> Any:
        name = _runtime_type_name(value)
        plan = plans.get(name)
        if plan is None:
            runtime_type = schema.get_type(name)
            if not is_object_type(runtime_type) or not schema.is_sub_type(type_, runtime_type):
                raise _Unplannable
            plan = plans[name] = _object_completer(context, runtime_type, field_details_list, check_type=False)
        return plan(value)

    return complete


def _object_completer(context: Any, type_: GraphQLObjectType, field_details_list: Any, *,
                      check_type: bool = True) -> Completer:
    grouped_field_set, new_defer_usages, _ = context.collect_subfields(type_, field_details_list)
    if new_defer_usages:
        raise _Unplannable
    type_name = type_.name
    constants: list[tuple[str, str]] = []
    entries: list[tuple[str, str, bool, Completer]] = []
    for response_key, sub_fields in grouped_field_set.items():
        field_name = sub_fields[0].node.name.value
        if field_name == "__typename":
            constants.append((response_key, type_name))
            continue
        field_def = type_.fields.get(field_name)
        definition = field_def.extensions.get(DEFINITION_BACKREF) if field_def is not None else None
        if field_def is None or definition is None or not definition.is_basic_field or field_def.args:
            raise _Unplannable
        entries.append((response_key, definition.python_name, is_non_null_type(field_def.type),
                        _completer(context, _nullable(field_def.type), sub_fields)))
    keys = [key for key, _ in constants]
    ordered = [key for key in grouped_field_set]
    plans: dict[type, tuple[bool, list[tuple[str, Callable[[Any], Any], bool, Completer]]]] = {}

    def plan_for(cls: type) -> tuple[bool, list[tuple[str, Callable[[Any], Any], bool, Completer]]]:
        # Objects that read their fields from a record (schema.components) expose the readers: calling them on
        # the record skips a property and a closure per field. Other objects: attribute reads.
        readers: dict[str, Callable[[Any], Any]] | None = getattr(cls, RECORD_READERS, None)
        if readers is not None and all(attribute in readers for _, attribute, _, _ in entries):
            return True, [(key, readers[attribute], non_null, complete_field)
                          for key, attribute, non_null, complete_field in entries]
        return False, [(key, attrgetter(attribute), non_null, complete_field)
                       for key, attribute, non_null, complete_field in entries]

    def complete(value: Any) -> dict[str, Any]:
        if check_type and _runtime_type_name(value) != type_name:
            raise _Unplannable
        cls = type(value)
        plan = plans.get(cls)
        if plan is None:
            plan = plans[cls] = plan_for(cls)
        on_record, getters = plan
        source = value._record if on_record else value
        out: dict[str, Any] = dict(constants) if constants else {}
        for key, get, non_null, complete_field in getters:
            field_value = get(source)
            if field_value is None:
                if non_null:
                    raise _Unplannable
                out[key] = None
            else:
                out[key] = complete_field(field_value)
        if keys:
            return {key: out[key] for key in ordered}
        return out

    return complete
