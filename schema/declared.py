"""Component types declared by connector specs (``types:`` in a spec): strawberry types built at run time, so a
department's class gets typed fields and schema documentation when its spec is registered, without a release."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import strawberry
from graphql.type.scalars import GRAPHQL_MAX_INT, GRAPHQL_MIN_INT
from strawberry.scalars import JSON

from connectors.records import ComponentRecord
from connectors.spec.declared_types import DeclaredAttribute, DeclaredType
from schema.components import Component, deferred_class, use_declared_types


def _string(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN
        return None
    number = round(value)
    return number if GRAPHQL_MIN_INT <= number <= GRAPHQL_MAX_INT else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if number - number == 0 else None  # finite only


def _boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


# A value the department sends that is not of the declared type is null (the raw value stays in ``attributes``).
_KINDS: dict[str, tuple[type, Callable[[Any], Any]]] = {
    "string": (str, _string), "int": (int, _int), "float": (float, _float), "boolean": (bool, _boolean),
    "datetime": (datetime, _datetime),
}


@dataclass(frozen=True)
class DeclaredComponentType:
    class_code: str
    type_name: str
    strawberry_type: type[Component]
    deferred: type[Component]


def _description(attribute: DeclaredAttribute) -> str | None:
    parts = [part for part in (attribute.description, f"({attribute.unit})" if attribute.unit else None) if part]
    return " ".join(parts) or None


def _reader(name: str, convert: Callable[[Any], Any]) -> Callable[[ComponentRecord], Any]:
    return lambda record: convert(record.attributes.get(name))


def _build(class_code: str, declared: DeclaredType) -> DeclaredComponentType:
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__module__": __name__, "__annotations__": annotations}
    readers: dict[str, Callable[[ComponentRecord], Any]] = {}
    for attribute in declared.attributes:
        python_type, convert = _KINDS[attribute.type]
        annotations[attribute.name] = python_type | None
        namespace[attribute.name] = strawberry.field(description=_description(attribute))
        readers[attribute.name] = _reader(attribute.name, convert)
    annotations["attributes"] = JSON
    namespace["attributes"] = strawberry.field(description="类别属性 — every attribute the department maps (JSON)")
    readers["attributes"] = lambda record: dict(record.attributes)
    cls = strawberry.type(type(declared.type_name, (Component,), namespace),
                          description=declared.description or f"Components of class {class_code}")
    return DeclaredComponentType(class_code, declared.type_name, cls, deferred_class(cls, readers))


_built: dict[tuple[str, bytes], DeclaredComponentType] = {}
MAX_BUILT_TYPES = 1024


def declared_types(declarations: Iterable[tuple[str, DeclaredType]]) -> tuple[DeclaredComponentType, ...]:
    """The types of these (class code, declaration) pairs; an unchanged declaration keeps its type (so requests
    still running on the previous schema complete its objects)."""
    types = []
    for class_code, declared in declarations:
        key = (class_code, orjson.dumps(declared.model_dump(mode="json")))
        built = _built.get(key)
        if built is None:
            if len(_built) >= MAX_BUILT_TYPES:
                _built.clear()
            built = _built[key] = _build(class_code, declared)
        types.append(built)
    return tuple(types)


def activate(types: Iterable[DeclaredComponentType]) -> None:
    """Build the records of the declared classes as their declared types from now on."""
    use_declared_types({t.class_code: t.deferred for t in types})
