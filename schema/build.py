"""Assemble the strawberry schema."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.utils.str_converters import to_camel_case

from connectors.spec.declared_types import reserve_type_names
from gateway.auth.policy import AudienceRule, Policy
from gateway.exceptions import ConfigurationError
from schema.components import ALL_COMPONENT_TYPES
from schema.directives import PersonalData, PolicyMasked
from schema.events import Alert, CityEvent
from schema.query import Query


def apply_policy(policy: Policy) -> None:
    """Show each personal-data rule of the policy as a ``@personalData`` directive on its field (and make sure the
    field applies it). The types are module-level, so this runs before every schema build with that build's policy."""
    types: dict[str, Any] = {t.__strawberry_definition__.name: t  # type: ignore[attr-defined]
                             for t in (*ALL_COMPONENT_TYPES, CityEvent, Alert)}
    for key, rule in policy.fields.items():
        type_name, _, field_name = key.partition(".")
        definition = types[type_name].__strawberry_definition__ if type_name in types else None
        field = next((f for f in definition.fields if (f.graphql_name or to_camel_case(f.python_name)) == field_name),
                     None) if definition else None
        if field is None:
            raise ConfigurationError(f"policy names {key}, which is not a field of the schema")
        field.directives = [PersonalData(visible_to=[_audience(r) for r in rule.visible],
                                         masked_for=[_audience(r) for r in rule.masked], mask=rule.mask)]
        if not any(isinstance(extension, PolicyMasked) for extension in field.extensions):
            field.extensions.append(PolicyMasked())


def _audience(rule: AudienceRule) -> str:
    tiers = "|".join(tier.value for tier in rule.tiers)
    return f"{tiers} ({'|'.join(rule.roles)})" if rule.roles else tiers


def build_schema(
    extensions: Sequence[type[SchemaExtension] | Callable[[], SchemaExtension]] = (),
    schema_class: type[strawberry.Schema] = strawberry.Schema,
    execution_context_class: type[Any] | None = None,
    policy: Policy | None = None,
    config: StrawberryConfig | None = None,
    extra_types: Sequence[type[Any]] = (),
) -> strawberry.Schema:
    """``extra_types``: component types declared by connector specs (schema.declared)."""
    if policy is not None:
        apply_policy(policy)
    schema = schema_class(config=config, query=Query, types=[*ALL_COMPONENT_TYPES, *extra_types],
                          extensions=list(extensions), execution_context_class=execution_context_class)
    declared = {t.__strawberry_definition__.name for t in extra_types}
    reserve_type_names(name for name in schema._schema.type_map if name not in declared)
    return schema
