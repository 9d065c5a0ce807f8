"""The spec's ``types``: GraphQL types it declares for classes the gateway has no type for, with typed attributes,
and the names such a type may not take."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from connectors.spec.problems import SpecRuleError
from connectors.spec.strict import Strict

SNAKE_CASE = r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*"
PASCAL_CASE = r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*"
MAX_TYPE_NAME = 64
MAX_DECLARED_ATTRIBUTES = 100
# Fields every component type has (the Component interface, and GenericComponent's attributes, kept on declared types).
COMPONENT_FIELDS = frozenset({"id", "component_class", "name", "status", "region_code", "grid_code", "location",
                              "department", "authority", "owner", "maintainer", "updated_at", "events", "alerts",
                              "attributes"})
# GraphQL type names a declared type may not take. The schema adds every type it builds (``reserve_type_names``),
# so a name that clashes with any type of the gateway's schema is refused; these are known without building it.
_RESERVED_TYPE_NAMES: set[str] = {"Query", "Mutation", "Subscription", "Component", "GenericComponent", "String",
                                  "Int", "Float", "Boolean", "ID", "JSON", "DateTime", "Date"}


def reserve_type_names(names: Any) -> None:
    """Names of GraphQL types that a spec may not declare (the schema's own types)."""
    _RESERVED_TYPE_NAMES.update(names)


class DeclaredAttribute(Strict):
    name: str = Field(description="snake_case attribute name, one of mapping.attributes; a camelCase GraphQL field")
    type: Literal["string", "int", "float", "boolean", "datetime"] = Field(description="The field's GraphQL type")
    unit: str | None = Field(None, description="Unit shown in the field's description, e.g. kPa")
    description: str | None = Field(None, description="The field's description in the GraphQL schema")

    @model_validator(mode="after")
    def _valid(self) -> DeclaredAttribute:
        if not re.fullmatch(SNAKE_CASE, self.name):
            raise SpecRuleError("name", f"{self.name!r} is not snake_case: lower-case letters and digits joined "
                                        f"by _, starting with a letter, e.g. outlet_pressure_kpa")
        if self.name in COMPONENT_FIELDS:
            raise SpecRuleError("name", f"{self.name} is a field every component has: choose another name")
        return self


class DeclaredType(Strict):
    """A GraphQL type for the components of one class, with typed fields read from ``mapping.attributes``."""

    type_name: str = Field(description="PascalCase GraphQL type name, e.g. GasRegulatorStation")
    description: str | None = Field(None, description="The type's description in the GraphQL schema")
    attributes: list[DeclaredAttribute] = Field(min_length=1, max_length=MAX_DECLARED_ATTRIBUTES)

    @model_validator(mode="after")
    def _valid(self) -> DeclaredType:
        if len(self.type_name) > MAX_TYPE_NAME or not re.fullmatch(PASCAL_CASE, self.type_name):
            raise SpecRuleError("type_name", f"{self.type_name!r} is not a PascalCase name (capitalised words "
                                             f"of letters and digits, at most {MAX_TYPE_NAME} characters), e.g. "
                                             f"GasRegulatorStation")
        if self.type_name in _RESERVED_TYPE_NAMES or self.type_name.startswith("__"):
            raise SpecRuleError("type_name", f"{self.type_name} is already a type of the gateway's schema: "
                                             f"choose another name")
        seen: set[str] = set()
        for index, attribute in enumerate(self.attributes):
            if attribute.name in seen:
                raise SpecRuleError(f"attributes[{index}].name", f"{attribute.name} is declared twice")
            seen.add(attribute.name)
        return self
