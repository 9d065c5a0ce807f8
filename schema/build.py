"""Assemble the strawberry schema."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import strawberry
from strawberry.extensions import SchemaExtension

from schema.components import ALL_COMPONENT_TYPES
from schema.query import Query


def build_schema(
    extensions: Sequence[type[SchemaExtension] | Callable[[], SchemaExtension]] = (),
    schema_class: type[strawberry.Schema] = strawberry.Schema,
) -> strawberry.Schema:
    return schema_class(query=Query, types=list(ALL_COMPONENT_TYPES), extensions=list(extensions))
