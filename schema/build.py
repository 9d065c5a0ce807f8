"""Assemble the strawberry schema."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from schema.components import ALL_COMPONENT_TYPES
from schema.query import Query


def build_schema(
    extensions: Sequence[type[SchemaExtension] | Callable[[], SchemaExtension]] = (),
    schema_class: type[strawberry.Schema] = strawberry.Schema,
    execution_context_class: type[Any] | None = None,
) -> strawberry.Schema:
    return schema_class(query=Query, types=list(ALL_COMPONENT_TYPES), extensions=list(extensions),
                        execution_context_class=execution_context_class)
