"""Fast completion of large lists of plain objects.

graphql-core completes every field of every list item through the general executor (resolve info, resolver call,
awaitable check, null check, serialisation): about 20 µs a field, so a list of 5,000 components with ten fields costs
a second. Most list items here are plain objects whose selected fields are plain attributes (strawberry "basic"
fields: no resolver, no permission, no field extension). For those, this execution context completes the whole list
with a plan made once per list and type and compiled into one Python function per class of item: for each
response key, the attribute to read, whether it may be null, and how to complete it (a leaf that serialises to itself
is checked inline, others serialised; recurse into an object, list or abstract type), then one dict display.

Field collection (fragments, ``@skip``/``@include`` with variables, aliases) is graphql-core's own
``collect_subfields``, so the selected keys are the ones the general executor would produce. Whenever a list holds
anything the plan does not cover — a field with a resolver or arguments, ``@defer``, a null in a non-null position,
resolver middleware, a field whose value raises — the list is completed by the general executor instead, which then
reports errors exactly as usual; each such list is counted in ``yiwang_fast_path_fallbacks_total{path="lists"}``
(reason ``unplannable`` or ``error``). The results are identical either way (tests compare both).

A fast path behind ``YIWANG_FAST_PATH_LISTS`` (on by default; off: strawberry's own execution context). It overrides
graphql-core's ``ExecutionContext.complete_list_value`` and uses ``collect_subfields`` (graphql-core 3.3's
signatures) and strawberry's field definitions (``is_basic_field``), in the versions pyproject.toml allows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from contextlib import suppress
from enum import Enum
from functools import lru_cache
from keyword import iskeyword
from operator import attrgetter
from types import CodeType
from typing import Any

from graphql import (
    GraphQLAbstractType,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
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
from graphql.type.scalars import GRAPHQL_MAX_INT, GRAPHQL_MIN_INT
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gateway.fallbacks import fell_back

FAST_PATH = "lists"
logger = logging.getLogger("yiwang.fastpaths")
DEFINITION_BACKREF = "strawberry-definition"
# On classes whose instances read each field from ``_record``: field name -> the record's attribute name, or a
# function of the record.
RECORD_READERS = "__record_readers__"
FAST_LIST_MIN_ITEMS = 8
MAX_COMPILED_COMPLETERS = 2048

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
            except _Unplannable:
                fell_back(FAST_PATH, "unplannable")
            except Exception as error:  # a field that fails: the general executor reports it at its path
                fell_back(FAST_PATH, "error")
                logger.debug("compiled completion of %s failed (%s: %s); completing it again with graphql-core",
                             return_type, type(error).__name__, error)
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
        return _Memo(serialize)
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
# The same test inlined in compiled completers (``v`` is the value): the serializer is called only when it fails.
# Int and Float serialise to themselves only in range (32-bit; finite: NaN fails both comparisons).
_INLINE_PASSTHROUGH: dict[Any, str] = {
    GraphQLString: "type(v) is str", GraphQLID: "type(v) is str", GraphQLBoolean: "type(v) is bool",
    GraphQLInt: f"type(v) is int and {GRAPHQL_MIN_INT} <= v <= {GRAPHQL_MAX_INT}",
    GraphQLFloat: "type(v) is float and NEG_INF < v < POS_INF",
}


class _Memo:
    """Enum values are few: serialise each once (strawberry's enum serializer is slow per call).

    Python enum members are also kept by identity (``by_id``): hashing a member calls ``Enum.__hash__``, a Python
    function, while an ``id`` is an int. The memo holds the members too, so their ids cannot be reused."""

    __slots__ = ("by_id", "known", "members", "serialize")

    def __init__(self, serialize: Callable[[Any], Any]) -> None:
        self.known: dict[Any, Any] = {}
        self.by_id: dict[int, Any] = {}
        self.members: list[Enum] = []
        self.serialize = serialize

    def __call__(self, value: Any) -> Any:
        try:
            return self.known[value]
        except (KeyError, TypeError):
            pass
        serialized = self.serialize(value)
        if serialized is None:
            raise _Unplannable
        with suppress(TypeError):  # an unhashable value is not memoised
            self.known[value] = serialized
        if isinstance(value, Enum) and id(value) not in self.by_id:
            self.members.append(value)
            self.by_id[id(value)] = serialized
        return serialized


def _runtime_type_name(value: Any) -> str:
    definition = getattr(type(value), "__strawberry_definition__", None)
    if definition is None:
        raise _Unplannable
    return str(definition.name)


def _abstract_completer(context: Any, type_: GraphQLAbstractType, field_details_list: Any) -> Completer:
    schema = context.schema
    by_name: dict[str, _ObjectPlan] = {}
    by_class: dict[type, Completer] = {}

    def completer_for(cls: type, value: Any) -> Completer:
        name = _runtime_type_name(value)
        plan = by_name.get(name)
        if plan is None:
            runtime_type = schema.get_type(name)
            if not is_object_type(runtime_type) or not schema.is_sub_type(type_, runtime_type):
                raise _Unplannable
            plan = by_name[name] = _ObjectPlan(context, runtime_type, field_details_list)
        completer = by_class[cls] = plan.compiled(cls)
        return completer

    def complete(value: Any) -> Any:
        cls = type(value)
        completer = by_class.get(cls)
        if completer is None:
            completer = completer_for(cls, value)
        return completer(value)

    return complete


def _object_completer(context: Any, type_: GraphQLObjectType, field_details_list: Any) -> Completer:
    plan = _ObjectPlan(context, type_, field_details_list)
    type_name = type_.name
    by_class: dict[type, Completer] = {}

    def complete(value: Any) -> Any:
        cls = type(value)
        completer = by_class.get(cls)
        if completer is None:
            if _runtime_type_name(value) != type_name:
                raise _Unplannable
            completer = by_class[cls] = plan.compiled(cls)
        return completer(value)

    return complete


class _SelectedField:
    __slots__ = ("attribute", "complete", "inline_passthrough", "memo", "non_null", "serialize")

    def __init__(self, attribute: str, non_null: bool, complete: Completer, type_: GraphQLOutputType) -> None:
        self.attribute = attribute  # the Python name of the field
        self.non_null = non_null
        self.complete = complete
        self.inline_passthrough = _INLINE_PASSTHROUGH.get(type_)
        self.memo = complete.by_id if isinstance(complete, _Memo) else None
        # A scalar's serializer, called from the compiled function itself (an enum has its memo instead)
        self.serialize = (type_.serialize if is_leaf_type(type_) and not isinstance(type_, GraphQLEnumType)
                          else None)


class _ObjectPlan:
    """The selection of one object type, compiled per Python class of its values into one function.

    The function reads each selected field (an attribute, or the class's record reader), checks nulls, completes
    the value (inline when it serialises to itself) and builds the response object in one dict display.
    """

    def __init__(self, context: Any, type_: GraphQLObjectType, field_details_list: Any) -> None:
        grouped_field_set, new_defer_usages, _ = context.collect_subfields(type_, field_details_list)
        if new_defer_usages:
            raise _Unplannable
        self.type_name = type_.name
        self.keys: list[str] = []
        self.fields: dict[str, _SelectedField] = {}
        for response_key, sub_fields in grouped_field_set.items():
            if not response_key.isidentifier():
                raise _Unplannable
            self.keys.append(response_key)
            field_name = sub_fields[0].node.name.value
            if field_name == "__typename":
                continue
            field_def = type_.fields.get(field_name)
            definition = field_def.extensions.get(DEFINITION_BACKREF) if field_def is not None else None
            if field_def is None or definition is None or not definition.is_basic_field or field_def.args:
                raise _Unplannable
            nullable = _nullable(field_def.type)
            self.fields[response_key] = _SelectedField(
                definition.python_name, is_non_null_type(field_def.type),
                _completer(context, nullable, sub_fields), nullable)

    def compiled(self, cls: type) -> Completer:
        # Objects that read their fields from a record (schema.components) expose the readers: reading the record
        # directly skips a property and a closure per field. Other objects: attribute reads.
        readers: dict[str, str | Callable[[Any], Any]] | None = getattr(cls, RECORD_READERS, None)
        on_record = readers is not None and all(f.attribute in readers for f in self.fields.values())
        namespace: dict[str, Any] = {"Unplannable": _Unplannable, "NEG_INF": -math.inf, "POS_INF": math.inf}
        lines = ["def complete(value):", "    src = value._record" if on_record else "    src = value"]
        items = []
        for index, response_key in enumerate(self.keys):
            selected = self.fields.get(response_key)
            if selected is None:
                items.append(f"{response_key!r}: {self.type_name!r}")
                continue
            reader = readers[selected.attribute] if on_record and readers is not None else selected.attribute
            if isinstance(reader, str) and reader.isidentifier() and not iskeyword(reader):
                read = f"src.{reader}"
            else:
                namespace[f"r{index}"] = reader if callable(reader) else attrgetter(reader)
                read = f"r{index}(src)"
            namespace[f"c{index}"] = selected.complete
            lines.append(f"    v = {read}")
            if selected.non_null:
                lines += ["    if v is None:", "        raise Unplannable"]
                indent = "    "
            else:
                lines.append("    if v is not None:")
                indent = "        "
            if selected.serialize is not None:  # a scalar: serialised unless it is its own serialisation
                namespace[f"s{index}"] = selected.serialize
                body = [f"v = s{index}(v)", "if v is None:", "    raise Unplannable"]
                if selected.inline_passthrough is not None:
                    body = [f"if not ({selected.inline_passthrough}):", *(f"    {line}" for line in body)]
                lines += [indent + line for line in body]
            elif selected.memo is not None:  # an enum: serialised names are non-empty strings
                namespace[f"m{index}"] = selected.memo
                lines.append(f"{indent}v = m{index}.get(id(v)) or c{index}(v)")
            else:
                lines.append(f"{indent}v = c{index}(v)")
            lines.append(f"    v{index} = v")
            items.append(f"{response_key!r}: v{index}")
        lines.append("    return {" + ", ".join(items) + "}")
        exec(_compiled("\n".join(lines), f"<completer {self.type_name} {cls.__name__}>"), namespace)
        completer: Completer = namespace["complete"]
        return completer


@lru_cache(maxsize=MAX_COMPILED_COMPLETERS)
def _compiled(source: str, filename: str) -> CodeType:
    """The code of a completer's source, compiled once: plans are made per request (they follow the variables), but
    a document's selections yield the same few sources again and again, and compiling costs 100 µs or more."""
    return compile(source, filename, "exec")
