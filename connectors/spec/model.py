"""The declarative connector spec: what a department's system serves and how to read it, validated strictly (unknown
keys are errors) and published as a JSON Schema (``spec_json_schema``).

Expressions that pick values out of the department's answers are JMESPath (https://jmespath.org).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import jmespath
import orjson
import yaml
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from connectors.catalogue import TYPE_BY_CLASS
from connectors.records import ComponentStatus
from connectors.spec.crs import check_crs, coverage_problem
from connectors.spec.problems import SpecInvalid, SpecProblem, SpecRuleError, explain
from connectors.spec.units import DIMENSIONS, conversion_factor, suffix_help, target_unit
from schema.codes import load_catalogue

DEPARTMENT_ID_PATTERN = r"^[a-z][a-z0-9_]{1,31}$"
STATUSES = ", ".join(s.value for s in ComponentStatus)
UNITS_TEXT = "; ".join(f"{dimension.replace('_', ' ')}: {', '.join(units)}" for dimension, units in DIMENSIONS.items())
GATEWAY_FILTER_MAX_RECORDS = 2000  # records the gateway may read to apply filters a department cannot take
GATEWAY_FILTER_MAX_RECORDS_CAP = 10_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _jmespath(value: str) -> str:
    try:
        jmespath.compile(value)
    except JMESPathError as exc:
        reason = str(exc).splitlines()[0].removesuffix(", for expression:")
        raise ValueError(f"{value!r} is not a valid JMESPath expression (https://jmespath.org): {reason}") from exc
    return value


Expression = str  # a JMESPath expression over the department's JSON


# --- auth ---------------------------------------------------------------------------------------------------------
class NoAuth(Strict):
    type: Literal["none"] = "none"


class ApiKeyAuth(Strict):
    type: Literal["api_key"]
    header: str = Field("X-Api-Key", description="Request header carrying the key")
    key: SecretStr = Field(description="The key; stored encrypted, never shown again")


class OAuth2ClientCredentials(Strict):
    type: Literal["oauth2_client_credentials"]
    token_url: str = Field(description="Token endpoint: a path under base_url or an absolute URL")
    client_id: str
    client_secret: SecretStr = Field(description="Stored encrypted, never shown again")
    scope: str | None = None


Auth = Annotated[NoAuth | ApiKeyAuth | OAuth2ClientCredentials, Field(discriminator="type")]


# --- request mapping ----------------------------------------------------------------------------------------------
class QueryBinding(Strict):
    """A request parameter filled from the gateway's query (``from``), in the department's terms."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    source: Literal["region_codes", "class_codes", "grid_code", "statuses", "bbox", "near"] = Field(alias="from")
    join: str = Field(",", description="Separator of list values")
    values: dict[str, str] | None = Field(None, description=(
        f"For statuses (required there): gateway status → department value, for every status: {STATUSES}"))
    format: str | None = Field(None, description=(
        "For bbox ({min_lng},{min_lat},{max_lng},{max_lat}) and near ({lng},{lat},{radius_m}), in the department's "
        "coordinate system"))

    @model_validator(mode="after")
    def _complete(self) -> QueryBinding:
        if self.source in ("bbox", "near") and not self.format:
            example = "{min_lng},{min_lat},{max_lng},{max_lat}" if self.source == "bbox" else "{lng},{lat},{radius_m}"
            raise SpecRuleError("format", f"a {self.source} parameter needs a format, e.g. format: \"{example}\"")
        if self.source == "statuses":
            missing = [s.value for s in ComponentStatus if s.value not in (self.values or {})]
            if missing:
                raise SpecRuleError("values", f"every gateway status must be mapped to the department's value; "
                                              f"add {', '.join(missing)} (all of {STATUSES})")
        return self


class PagePagination(Strict):
    style: Literal["page"]
    page_param: str = "page"
    size_param: str = "size"
    first_page: int = 1
    max_size: int = Field(100, gt=0)


class OffsetPagination(Strict):
    style: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    max_size: int = Field(100, gt=0)


class CursorPagination(Strict):
    style: Literal["cursor"]
    cursor_param: str = "cursor"
    size_param: str = "limit"
    next_cursor: Expression = Field(description="Where the next page's cursor is (null on the last page)")
    max_size: int = Field(100, gt=0)


class LinkHeaderPagination(Strict):
    style: Literal["link_header"]
    size_param: str = "per_page"
    max_size: int = Field(100, gt=0)


Pagination = Annotated[PagePagination | OffsetPagination | CursorPagination | LinkHeaderPagination,
                       Field(discriminator="style")]


class Answer(Strict):
    """Where the records are in an answer, and how to tell a refusal inside a 200 (an envelope code)."""

    items: Expression = Field(description="The list of records")
    check: Expression | None = Field(None, description="Must be true for the answer to be accepted")
    error_message: Expression | None = Field(None, description="The department's message when check fails")

    @field_validator("items", "check", "error_message")
    @classmethod
    def _valid_expression(cls, value: str | None) -> str | None:
        return value if value is None else _jmespath(value)


class SearchOperation(Answer):
    method: Literal["GET"] = "GET"
    path: str
    params: dict[str, QueryBinding | str] = Field(default_factory=dict, description="Constants or query bindings")
    pagination: Pagination
    total: Expression | None = Field(None, description="Count of all matches")
    total_header: str | None = Field(None, description="Response header with the count of all matches")

    @model_validator(mode="after")
    def _has_total(self) -> SearchOperation:
        if (self.total is None) == (self.total_header is None):
            raise ValueError("give exactly one of total (a JMESPath expression for the count of all matches) and "
                             "total_header (the response header with it)")
        if self.total is not None:
            _jmespath(self.total)
        if isinstance(self.pagination, CursorPagination):
            _jmespath(self.pagination.next_cursor)
        return self


class BatchOperation(Answer):
    method: Literal["GET", "POST"] = "GET"
    path: str
    ids_param: str = Field(description="Query parameter (GET, joined) or JSON body field (POST, a list)")
    join: str = ","
    max_ids: int = Field(100, gt=0)


class HealthOperation(Strict):
    path: str
    check: Expression | None = Field(None, description="Must be true when the department is healthy")

    @field_validator("check")
    @classmethod
    def _valid_check(cls, value: str | None) -> str | None:
        return value if value is None else _jmespath(value)


class Operations(Strict):
    search_components: SearchOperation
    get_components: BatchOperation | None = None
    health: HealthOperation


# --- response mapping ---------------------------------------------------------------------------------------------
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
                _keyed(name, _jmespath, expression)
        if self.timezone is not None and not re.fullmatch(r"[+-][0-9]{2}:[0-9]{2}", self.timezone):
            raise SpecRuleError("timezone", f"write the offset like +08:00, not {self.timezone!r}")
        return self


Field_ = FieldMap | str  # a bare string is a path


def _keyed(key: str, check: Any, *values: Any) -> Any:
    """``check(*values)``, its ValueError raised as a SpecRuleError at ``key``."""
    try:
        return check(*values)
    except SpecRuleError as exc:
        raise SpecRuleError(f"{key}.{exc.key}", str(exc)) from exc
    except ValueError as exc:
        raise SpecRuleError(key, str(exc)) from exc


class Location(Strict):
    x: Expression = Field(description="Longitude or easting")
    y: Expression = Field(description="Latitude or northing")
    crs: str | None = Field(None, description="Overrides the spec's crs")

    @field_validator("x", "y")
    @classmethod
    def _valid(cls, value: str) -> str:
        return _jmespath(value)


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
                _keyed(key, _jmespath, value)
        unknown = sorted(set((self.status.values or {}).values()) - {s.value for s in ComponentStatus})
        if not self.status.values:
            raise SpecRuleError("status.values", f"map each department status value to one of {STATUSES}, e.g. "
                                                 f"values: {{ZC: INTACT, SH: DAMAGED}}")
        if unknown:
            raise SpecRuleError("status.values", f"{', '.join(unknown)} is not a gateway status: map department "
                                                 f"values to {STATUSES}")
        for name, mapped in self.attributes.items():
            if isinstance(mapped, str):
                _keyed(f"attributes.{name}", _jmespath, mapped)
                continue
            if mapped.unit is not None or mapped.unit_path is not None:
                target = target_unit(name)
                if target is None:
                    raise SpecRuleError(f"attributes.{name}", "has a unit but its name does not say the gateway's "
                                                              f"unit: end it with one of {suffix_help()}")
                if mapped.unit is not None:
                    _keyed(f"attributes.{name}.unit", conversion_factor, mapped.unit, target)
        return self


# --- declared types -----------------------------------------------------------------------------------------------
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


class Cache(Strict):
    """Seconds the gateway's cache may serve this department's answers (0: never), per kind of data."""

    registry_s: float = Field(300.0, ge=0, description="Component inventory without live readings")
    readings_s: float = Field(15.0, ge=0, description="Components that carry live sensor readings")


class ConnectorSpec(Strict):
    spec_version: Literal[1] = 1
    department: str = Field(pattern=DEPARTMENT_ID_PATTERN, description="Department id, e.g. gas")
    name: str = Field(min_length=1, description="Display name, e.g. 燃气 Gas")
    base_url: str = Field(description="http(s) URL of the department system; must match the gateway's allowlist")
    auth: Auth = Field(default_factory=NoAuth)
    regions: list[Annotated[str, Field(pattern=r"^[0-9]{6}$")]] = Field(min_length=1, description=(
        "6-digit GB/T 2260 codes of the districts served, quoted; all must lie inside the registering principal's "
        "scope"))
    district_bounds: dict[str, tuple[float, float, float, float]] = Field(default_factory=dict, description=(
        "WGS-84 min_lng, min_lat, max_lng, max_lat per district, to spot coordinates outside it"))
    component_classes: list[Annotated[str, Field(pattern=r"^[0-9]{4}$")]] = Field(min_length=1)
    crs: str = Field("WGS84", description=(
        "The department's coordinate system: WGS84, CGCS2000, GCJ02, BD09 or EPSG:<code>. A projected system must "
        "cover the district_bounds (CGCS2000 3-degree Gauss-Krüger: the central meridian nearest the district, e.g. "
        "EPSG:4548 for 117°E)"))
    timeout_s: float = Field(5.0, gt=0, le=60)
    gateway_filter_max_records: int = Field(
        GATEWAY_FILTER_MAX_RECORDS, gt=0, le=GATEWAY_FILTER_MAX_RECORDS_CAP, description=(
            "A filter with no binding in operations.search_components.params (say bbox, when the department's API "
            "has no area filter) is applied by the gateway to the records the department returns: it reads every "
            "record matching the bound filters, at most this many per query. When more would match, the department "
            "is left out of that query's answer and named in the response's extensions.skipped"))
    cache: Cache = Field(default_factory=Cache)
    operations: Operations
    mapping: ComponentMapping
    types: dict[str, DeclaredType] = Field(default_factory=dict, description=(
        "GraphQL types for classes served here that have no type in the gateway: class code (one of "
        "component_classes) → type_name, description and typed attributes (each one of mapping.attributes). Once "
        "the spec is registered, the schema has the type, its components answer as it, and its attributes are "
        "camelCase fields"))

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL with a host")
        return value.rstrip("/")

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str) -> str:
        check_crs(value)
        return value

    @field_validator("component_classes")
    @classmethod
    def _catalogued(cls, value: list[str]) -> list[str]:
        catalogue = load_catalogue()
        unknown = [code for code in value if catalogue.component_class(code) is None]
        if unknown:
            raise ValueError(f"component classes not in the catalogue: {unknown}")
        return value

    @model_validator(mode="after")
    def _bounds_for_served_regions(self) -> ConnectorSpec:
        extra = sorted(set(self.district_bounds) - set(self.regions))
        if extra:
            raise SpecRuleError("district_bounds", f"{', '.join(extra)} is not in regions: add it there or remove "
                                                   f"its bounds")
        key, crs = ("mapping.location.crs", self.mapping.location.crs) if self.mapping.location.crs else ("crs",
                                                                                                           self.crs)
        if self.mapping.location.crs is not None:
            _keyed(key, check_crs, crs)
        problem = coverage_problem(crs, self.district_bounds)
        if problem is not None:
            raise SpecRuleError(key, problem)
        return self

    @model_validator(mode="after")
    def _declared_types(self) -> ConnectorSpec:
        names: dict[str, str] = {}
        for code, declared in self.types.items():
            key = f"types.{code}"
            if code not in self.component_classes:
                served = ", ".join(self.component_classes)
                raise SpecRuleError(key, f"{code} is not one of component_classes ({served})")
            if code in TYPE_BY_CLASS:
                raise SpecRuleError(key, f"class {code} already has the type {TYPE_BY_CLASS[code]} in the gateway: "
                                         f"declare types only for classes without one")
            if declared.type_name in names:
                raise SpecRuleError(f"{key}.type_name", f"{declared.type_name} is also the type of class "
                                                        f"{names[declared.type_name]}: give each class its own name")
            names[declared.type_name] = code
            for index, attribute in enumerate(declared.attributes):
                if attribute.name not in self.mapping.attributes:
                    raise SpecRuleError(f"{key}.attributes[{index}].name",
                                        f"{attribute.name} is not in mapping.attributes: map it there first")
        return self

    def secrets(self) -> dict[str, str]:
        """The secret values by their dotted path."""
        auth = self.auth
        if isinstance(auth, ApiKeyAuth):
            return {"auth.key": auth.key.get_secret_value()}
        if isinstance(auth, OAuth2ClientCredentials):
            return {"auth.client_secret": auth.client_secret.get_secret_value()}
        return {}

    def to_document(self, *, reveal: bool = False) -> dict[str, Any]:
        """The spec as plain JSON data; secrets masked unless ``reveal``."""
        document: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_defaults=False)
        if reveal:
            for path, value in self.secrets().items():
                _set_path(document, path, value)
        return document


def _set_path(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        document = document[key]
    document[leaf] = value


def validate_spec(data: Any) -> ConnectorSpec:
    """A spec from a parsed document; ``SpecInvalid`` naming each bad key in words if it is not one."""
    if not isinstance(data, dict):
        raise SpecInvalid([SpecProblem("", "a spec is a mapping (key: value) at the top level")])
    try:
        return ConnectorSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecInvalid(explain(exc, data, spec_json_schema())) from None


def parse_spec_text(text: str, *, filename: str = "spec") -> ConnectorSpec:
    """A spec from YAML or JSON text; ``SpecInvalid`` (a ValueError) if it is not one."""
    try:
        data = orjson.loads(text) if filename.endswith(".json") else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if filename.endswith(".json") else "YAML"
        raise SpecInvalid([SpecProblem("", f"{filename} is not valid {kind}: {exc}")]) from None
    return validate_spec(data)


def load_spec(path: str | Path) -> ConnectorSpec:
    path = Path(path)
    return parse_spec_text(path.read_text(encoding="utf-8"), filename=path.name)


@lru_cache(maxsize=4)
def _cached_schema(ref_template: str) -> str:
    return orjson.dumps(_build_schema(ref_template)).decode()


def spec_json_schema(ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
    """The spec's JSON Schema (a fresh copy each call)."""
    schema: dict[str, Any] = orjson.loads(_cached_schema(ref_template))
    return schema


def _build_schema(ref_template: str) -> dict[str, Any]:
    schema = ConnectorSpec.model_json_schema(by_alias=True, ref_template=ref_template)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://yiwang.example.gov.cn/schemas/connector-spec-v1.json"
    return schema
