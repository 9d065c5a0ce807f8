"""The spec's ``mapping``: where each component field is in a department record (a JMESPath path or a constant,
with its type, unit, value table and time zone), checked against the gateway's statuses and units."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from connectors.records import ComponentStatus
from connectors.spec.problems import SpecRuleError
from connectors.spec.strict import Expression, Strict, at_key, jmespath_expression
from connectors.spec.units import DIMENSIONS, conversion_factor, suffix_help, target_unit

STATUSES = ", ".join(s.value for s in ComponentStatus)
UNITS_TEXT = "; ".join(f"{dimension.replace('_', ' ')}: {', '.join(units)}" for dimension, units in DIMENSIONS.items())


class FieldMap(Strict):
    path: Expression | None = Field(None, description="Where the value is")
    const: Any = Field(None, description="A constant instead of a path")
    type: Literal["string", "integer", "number", "boolean", "datetime", "date", "json"] | None = None
    unit: str | None = Field(None, description=(
        "The department's unit, converted to the unit the attribute's name ends in. Accepted, by dimension (litres "
        "are L, percent %, per mille ‰, a plain fraction ratio; ³ may be written 3 and μ as u): " + UNITS_TEXT))
    unit_path: Expression | None = Field(None, description=(
        "Where the record names its unit, if it does (one of the units accepted for unit)"))
    values: dict[str, str] | None = Field(None, description="Department value → gateway value")
    timezone: str | None = Field(None, description="For naive times, e.g. +08:00")
    format: str | None = Field(None, description="strptime format of a time, if not ISO 8601")
    split: str | None = Field(None, description="Separator turning a string into a list (empty items dropped)")

    @model_validator(mode="after")
    def _one_source(self) -> FieldMap:
        if (self.path is None) == (self.const is None):
            raise ValueError("give exactly one of path (where the value is) and const (a fixed value)")
        for name, expression in (("path", self.path), ("unit_path", self.unit_path)):
            if expression is not None:
                at_key(name, jmespath_expression, expression)
        if self.timezone is not None and not re.fullmatch(r"[+-][0-9]{2}:[0-9]{2}", self.timezone):
            raise SpecRuleError("timezone", f"write the offset like +08:00, not {self.timezone!r}")
        return self


Field_ = FieldMap | str  # a bare string is a path


class Location(Strict):
    x: Expression = Field(description="Longitude or easting")
    y: Expression = Field(description="Latitude or northing")
    crs: str | None = Field(None, description="Overrides the spec's crs")

    @field_validator("x", "y")
    @classmethod
    def _valid(cls, value: str) -> str:
        return jmespath_expression(value)


class OrganizationMap(Strict):
    name: Field_
    credit_code: Field_ | None = None


class ComponentMapping(Strict):
    id: Field_
    class_code: Field_
    name: Field_
    status: FieldMap = Field(description=(
        f"The record's status; values must map every department value to one of {STATUSES}"))
    region_code: Field_
    grid_code: Field_
    location: Location
    updated_at: FieldMap
    department_name: Field_ | None = None
    owner: OrganizationMap | None = None
    maintainer: OrganizationMap | None = None
    attributes: dict[str, Field_] = Field(default_factory=dict, description=(
        "Class-specific values by attribute name. An attribute with a unit or unit_path must end in the suffix of the "
        "unit the gateway serves it in: " + suffix_help()
        + "; pm25, pm10, so2, no2, o3 are in μg/m³ and co in mg/m³"))

    @model_validator(mode="after")
    def _valid(self) -> ComponentMapping:
        for key in ("id", "class_code", "name", "region_code", "grid_code"):
            value = getattr(self, key)
            if isinstance(value, str):
                at_key(key, jmespath_expression, value)
        unknown = sorted(set((self.status.values or {}).values()) - {s.value for s in ComponentStatus})
        if not self.status.values:
            raise SpecRuleError("status.values", f"map each department status value to one of {STATUSES}, e.g. "
                                                 f"values: {{ZC: INTACT, SH: DAMAGED}}")
        if unknown:
            raise SpecRuleError("status.values", f"{', '.join(unknown)} is not a gateway status: map department "
                                                 f"values to {STATUSES}")
        for name, mapped in self.attributes.items():
            if isinstance(mapped, str):
                at_key(f"attributes.{name}", jmespath_expression, mapped)
                continue
            if mapped.unit is not None or mapped.unit_path is not None:
                target = target_unit(name)
                if target is None:
                    raise SpecRuleError(f"attributes.{name}", "has a unit but its name does not say the gateway's "
                                                              f"unit: end it with one of {suffix_help()}")
                if mapped.unit is not None:
                    at_key(f"attributes.{name}.unit", conversion_factor, mapped.unit, target)
        return self
