"""The served GraphQL schema follows the component types that the served spec connectors declare
(``connectors/spec``, ``schema/declared.py``): when the declarations change, a schema with them is built and swapped
in; a request keeps the schema it started with."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import strawberry
from strawberry.schema.base import BaseSchema

from connectors.base import Connector
from connectors.spec.connector import SpecConnector
from connectors.spec.declared_types import DeclaredType
from schema.declared import activate, declared_types

logger = logging.getLogger("yiwang.registry")


class ServesSchema(Protocol):
    schema: BaseSchema


class DeclaredTypesSchema:
    """A listener of the served connector set: rebuilds ``view.schema`` with ``build(extra_types)`` when the
    declarations of the set's spec connectors differ from those of the schema being served."""

    def __init__(self, view: ServesSchema, build: Callable[[Sequence[type[Any]]], strawberry.Schema]) -> None:
        self.view = view
        self.build = build
        self._declared_key: tuple[tuple[str, str], ...] = ()  # the declared types the served schema has

    def __call__(self, connectors: Iterable[Connector]) -> None:
        declarations = declared_by_class([c for c in connectors if isinstance(c, SpecConnector)])
        key = tuple((code, declared.model_dump_json()) for code, declared in declarations)
        if key == self._declared_key:
            return
        try:
            types = declared_types(declarations)
            schema = self.build([t.strawberry_type for t in types])
        except Exception as exc:  # a schema that cannot be built keeps the one being served
            logger.error("declared types %s not added to the schema: %s", [n for n, _ in key], exc)
            return
        self.view.schema = schema
        activate(types)
        self._declared_key = key
        logger.info("schema now has the declared types %s", sorted(t.type_name for t in types))


def declared_by_class(connectors: list[SpecConnector]) -> list[tuple[str, DeclaredType]]:
    """The types the specs declare, one per class and per name: where two specs declare the same class or name,
    the department first in order keeps it."""
    by_class: dict[str, DeclaredType] = {}
    owners: dict[str, str] = {}
    for connector in sorted(connectors, key=lambda c: c.department_id):
        for code, declared in connector.spec.types.items():
            if code in by_class or declared.type_name in owners:
                logger.error("%s declares type %s for class %s, already declared by %s; ignored",
                             connector.department_id, declared.type_name, code,
                             owners.get(declared.type_name) or owners.get(by_class[code].type_name))
                continue
            by_class[code] = declared
            owners[declared.type_name] = connector.department_id
    return sorted(by_class.items())
