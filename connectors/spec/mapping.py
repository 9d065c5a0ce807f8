"""Department records → ``ComponentRecord`` as a spec's mapping says: JMESPath for every value, then types, units,
code tables and the coordinate system. ``map_fields`` maps field by field and hands each failure to a callback, so a
dry run can report every problem of a record at once; ``to_record`` fails on the first."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import jmespath
from jmespath import visitor

from connectors.catalogue import ATTRIBUTE_FIELDS, TYPE_BY_CLASS
from connectors.records import ComponentRecord, ComponentStatus, Organization
from connectors.spec import crs
from connectors.spec.model import ComponentMapping, ConnectorSpec, FieldMap, OrganizationMap
from connectors.spec.units import conversion_factor, target_unit

OnProblem = Callable[[str, str], None]  # (field, message)
Search = Callable[[Any], Any]
CONVERTED_DECIMALS = 6
MAX_RECORD_ID_SHOWN = 40  # characters of a department's record id in an error's detail
ISO_LOCAL_FORMATS = frozenset({"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"})  # fromisoformat reads these, much faster
_INTERPRETER = visitor.TreeInterpreter()  # stateless; ParsedResult.search builds a new one per call


def _field_names(node: Any) -> list[str] | None:
    """The names of a plain dotted path (``a.b.c``), or None for any other expression."""
    if node["type"] == "field":
        return [node["value"]]
    if node["type"] == "subexpression":
        names = [_field_names(child) for child in node["children"]]
        if all(part is not None for part in names):
            return [name for part in names for name in part or ()]
    return None


def compile_search(expression: str) -> Search:
    """A JMESPath search function; plain dotted paths, the bulk of any mapping, skip the interpreter."""
    parsed = jmespath.compile(expression).parsed
    names = _field_names(parsed)
    if names is None:
        return lambda value: _INTERPRETER.visit(parsed, value)

    def dotted(value: Any) -> Any:
        for name in names:
            if not isinstance(value, dict):
                return None
            value = value.get(name)
        return value

    return dotted


@dataclass(frozen=True, slots=True)
class CompiledField:
    name: str
    spec: FieldMap
    path: Search | None
    unit_path: Search | None
    target_unit: str | None
    zone: timezone | None

    def value(self, raw: Mapping[str, Any]) -> Any:
        value = self.spec.const if self.path is None else self.path(raw)
        if value is None or value == "":
            return None
        if self.spec.values is not None:
            key = str(value)
            if key not in self.spec.values:
                raise ValueError(f"value {key!r} is not in the spec's values ({', '.join(self.spec.values)})")
            value = self.spec.values[key]
        if self.spec.split is not None:
            return [self._typed(item) for item in str(value).split(self.spec.split) if item]
        value = self._typed(value)
        if self.target_unit is not None:
            unit = self.spec.unit if self.unit_path is None else self.unit_path(raw)
            if unit is None:
                raise ValueError("no unit")
            factor = conversion_factor(str(unit), self.target_unit)
            value = float(value) if factor == 1 else round(float(value) * factor, CONVERTED_DECIMALS)
        return value

    def _typed(self, value: Any) -> Any:
        kind = self.spec.type
        if kind is None or kind == "json":
            return value
        if kind == "string":
            return str(value)
        if kind == "integer":
            return int(float(value))
        if kind == "number":
            if isinstance(value, bool):
                raise ValueError(f"{value!r} is not a number")
            return float(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes", "y"):
                return True
            if str(value).lower() in ("false", "0", "no", "n"):
                return False
            raise ValueError(f"{value!r} is not a boolean")
        if kind == "date":
            return date.fromisoformat(str(value)[:10])
        return self._time(value)

    def _time(self, value: Any) -> datetime:
        text = str(value)
        time_format = self.spec.format
        moment = (datetime.strptime(text, time_format) if time_format and time_format not in ISO_LOCAL_FORMATS
                  else datetime.fromisoformat(text.replace("Z", "+00:00")))
        if moment.tzinfo is None:
            if self.zone is None:
                raise ValueError(f"time {text!r} has no time zone and the spec gives none")
            moment = moment.replace(tzinfo=self.zone)
        return moment


def _zone(text: str | None) -> timezone | None:
    if text is None:
        return None
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def compile_field(name: str, spec: FieldMap | str, *, kind: str | None = None) -> CompiledField:
    field = FieldMap(path=spec, type=kind) if isinstance(spec, str) else spec  # type: ignore[arg-type]
    if kind is not None and field.type is None:
        field = field.model_copy(update={"type": kind})
    has_unit = field.unit is not None or field.unit_path is not None
    return CompiledField(
        name=name, spec=field,
        path=compile_search(field.path) if field.path is not None else None,
        unit_path=compile_search(field.unit_path) if field.unit_path is not None else None,
        target_unit=target_unit(name.rsplit(".", 1)[-1]) if has_unit else None,
        zone=_zone(field.timezone),
    )


class RecordMapper:
    def __init__(self, spec: ConnectorSpec) -> None:
        mapping: ComponentMapping = spec.mapping
        self.department_id = spec.department
        self.default_department_name = spec.name
        self.fields = [
            compile_field("id", mapping.id, kind="string"),
            compile_field("class_code", mapping.class_code, kind="string"),
            compile_field("name", mapping.name, kind="string"),
            compile_field("status", mapping.status, kind="string"),
            compile_field("region_code", mapping.region_code, kind="string"),
            compile_field("grid_code", mapping.grid_code, kind="string"),
            compile_field("updated_at", mapping.updated_at, kind="datetime"),
        ]
        if mapping.department_name is not None:
            self.fields.append(compile_field("department_name", mapping.department_name, kind="string"))
        self.organizations = {role: self._organization(role, org) for role, org in
                              (("owner", mapping.owner), ("maintainer", mapping.maintainer)) if org is not None}
        self.attributes = [compile_field(f"attributes.{name}", value) for name, value in mapping.attributes.items()]
        self.x_expression, self.y_expression = mapping.location.x, mapping.location.y
        self.x, self.y = compile_search(mapping.location.x), compile_search(mapping.location.y)
        self.crs = mapping.location.crs or spec.crs
        self.to_wgs84 = crs.to_wgs84(self.crs)

    @staticmethod
    def _organization(role: str, org: OrganizationMap) -> tuple[CompiledField, CompiledField | None]:
        credit = org.credit_code
        return (compile_field(f"{role}.name", org.name, kind="string"),
                compile_field(f"{role}.credit_code", credit, kind="string") if credit is not None else None)

    def expressions(self) -> list[str]:
        """Every JMESPath expression the mapping reads (for the dry run's unmapped-field report)."""
        fields = [*self.fields, *self.attributes,
                  *(f for pair in self.organizations.values() for f in pair if f is not None)]
        out = [f.spec.path for f in fields if f.spec.path is not None]
        out += [f.spec.unit_path for f in fields if f.spec.unit_path is not None]
        return [*out, self.x_expression, self.y_expression]

    def map_fields(self, raw: Mapping[str, Any], on_problem: OnProblem) -> dict[str, Any]:
        """Every field of the record that maps; each one that does not goes to ``on_problem``."""
        out: dict[str, Any] = {}
        for field in self.fields:
            try:
                out[field.name] = field.value(raw)
            except (ValueError, TypeError, KeyError) as exc:
                on_problem(field.name, str(exc))
        for role, (name_field, credit_field) in self.organizations.items():
            try:
                name = name_field.value(raw)
                credit = credit_field.value(raw) if credit_field is not None else None
                out[role] = Organization(name=name, credit_code=credit) if name else None
            except (ValueError, TypeError) as exc:
                on_problem(role, str(exc))
        try:
            out["lng"], out["lat"] = self.to_wgs84(float(self.x(raw)), float(self.y(raw)))
        except (ValueError, TypeError) as exc:
            on_problem("location", f"{exc} (x={self.x(raw)!r}, y={self.y(raw)!r})")
        attributes: dict[str, Any] = {}
        for field in self.attributes:
            try:
                attributes[field.name.removeprefix("attributes.")] = field.value(raw)
            except (ValueError, TypeError) as exc:
                on_problem(field.name, str(exc))
        out["attributes"] = attributes
        return out

    def to_record(self, raw: Mapping[str, Any]) -> ComponentRecord:
        """The record, or a ``ValueError`` naming the record and the field that does not map (the error's detail
        is for logs and the department's operator: callers see only that the department's answer was unusable)."""
        def fail(field: str, message: str) -> None:
            raise ValueError(f"{self._which(raw)}{field}: {message}")

        values = self.map_fields(raw, fail)
        try:
            return self.record(values)
        except ValueError as exc:
            raise ValueError(f"{self._which(raw)}{exc}") from exc

    def _which(self, raw: Any) -> str:
        """``record <id>: `` when the row's id reads as text, else nothing."""
        try:
            record_id = self.fields[0].path(raw) if self.fields[0].path is not None else None
        except (ValueError, TypeError, KeyError, AttributeError):  # not even an object: the field says enough
            return ""
        if not isinstance(record_id, (str, int)) or isinstance(record_id, bool) or not str(record_id):
            return ""
        return f"record {str(record_id)[:MAX_RECORD_ID_SHOWN]}: "

    def record(self, values: Mapping[str, Any]) -> ComponentRecord:
        for required in ("id", "class_code", "name", "status", "region_code", "grid_code", "updated_at"):
            if values.get(required) is None:
                raise ValueError(f"{required} is missing")
        class_code = values["class_code"]
        return ComponentRecord(
            id=values["id"], class_code=class_code, name=values["name"], status=ComponentStatus(values["status"]),
            region_code=values["region_code"], grid_code=values["grid_code"], lng=values["lng"], lat=values["lat"],
            department_id=self.department_id,
            department_name=values.get("department_name") or self.default_department_name,
            owner=values.get("owner"), maintainer=values.get("maintainer"), updated_at=values["updated_at"],
            attributes=shaped_attributes(class_code, values["attributes"]),
        )


def shaped_attributes(class_code: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """A class with a GraphQL type gets exactly its type's fields (missing ones null); others keep what has a
    value (one spec mapping serves several classes, each with its own attributes)."""
    type_name = TYPE_BY_CLASS.get(class_code)
    if type_name is None:
        return {name: value for name, value in attributes.items() if value is not None}
    return {name: attributes.get(name) for name in ATTRIBUTE_FIELDS[type_name]}
