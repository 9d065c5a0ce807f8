"""The declarative connector spec: what a department's system serves and how to read it, validated strictly (unknown
keys are errors) and published as a JSON Schema (``spec_json_schema``).

Expressions that pick values out of the department's answers are JMESPath (https://jmespath.org).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import jmespath
import orjson
import yaml
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.records import ComponentStatus
from connectors.spec.crs import check_crs
from connectors.spec.units import conversion_factor, target_unit
from schema.codes import load_catalogue

DEPARTMENT_ID_PATTERN = r"^[a-z][a-z0-9_]{1,31}$"
QUERY_FIELDS = ("region_codes", "class_codes", "grid_code", "statuses", "bbox", "near")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _jmespath(value: str) -> str:
    try:
        jmespath.compile(value)
    except JMESPathError as exc:
        raise ValueError(f"not a valid JMESPath expression {value!r}: {exc}") from exc
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
    values: dict[str, str] | None = Field(None, description="For statuses: gateway status → department value")
    format: str | None = Field(None, description=(
        "For bbox ({min_lng},{min_lat},{max_lng},{max_lat}) and near ({lng},{lat},{radius_m}), in the department's "
        "coordinate system"))

    @model_validator(mode="after")
    def _complete(self) -> QueryBinding:
        if self.source in ("bbox", "near") and not self.format:
            raise ValueError(f"a {self.source} parameter needs a format")
        if self.source == "statuses":
            missing = [s.value for s in ComponentStatus if s.value not in (self.values or {})]
            if missing:
                raise ValueError(f"statuses values must map every status; missing {missing}")
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
            raise ValueError("give exactly one of total (an expression) and total_header")
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
    unit: str | None = Field(None, description="The department's unit (converted to the attribute's)")
    unit_path: Expression | None = Field(None, description="Where the record names its unit, if it does")
    values: dict[str, str] | None = Field(None, description="Department value → gateway value")
    timezone: str | None = Field(None, description="For naive times, e.g. +08:00")
    format: str | None = Field(None, description="strptime format of a time, if not ISO 8601")
    split: str | None = Field(None, description="Separator turning a string into a list (empty items dropped)")

    @model_validator(mode="after")
    def _one_source(self) -> FieldMap:
        if (self.path is None) == (self.const is None):
            raise ValueError("give exactly one of path and const")
        for expression in (self.path, self.unit_path):
            if expression is not None:
                _jmespath(expression)
        if self.timezone is not None and not re.fullmatch(r"[+-][0-9]{2}:[0-9]{2}", self.timezone):
            raise ValueError("timezone must look like +08:00")
        return self


Field_ = FieldMap | str  # a bare string is a path


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
    status: FieldMap
    region_code: Field_
    grid_code: Field_
    location: Location
    updated_at: FieldMap
    department_name: Field_ | None = None
    owner: OrganizationMap | None = None
    maintainer: OrganizationMap | None = None
    attributes: dict[str, Field_] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid(self) -> ComponentMapping:
        for value in (self.id, self.class_code, self.name, self.region_code, self.grid_code):
            if isinstance(value, str):
                _jmespath(value)
        unknown = set((self.status.values or {}).values()) - {s.value for s in ComponentStatus}
        if not self.status.values or unknown:
            raise ValueError(f"status.values must map department values to {[s.value for s in ComponentStatus]}")
        for name, mapped in self.attributes.items():
            if isinstance(mapped, str):
                _jmespath(mapped)
                continue
            if mapped.unit is not None or mapped.unit_path is not None:
                target = target_unit(name)
                if target is None:
                    raise ValueError(f"attribute {name!r} has a unit but its name does not say the gateway's unit "
                                     f"(end it with _mpa, _kpa, _mm, _cm, _m, _lel, _yuan, _m3h, _db)")
                if mapped.unit is not None:
                    try:
                        conversion_factor(mapped.unit, target)
                    except ValueError as exc:
                        raise ValueError(f"attribute {name!r}: {exc}") from exc
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
    regions: list[Annotated[str, Field(pattern=r"^[0-9]{6}$")]] = Field(min_length=1)
    district_bounds: dict[str, tuple[float, float, float, float]] = Field(default_factory=dict, description=(
        "WGS-84 min_lng, min_lat, max_lng, max_lat per district, to spot coordinates outside it"))
    component_classes: list[Annotated[str, Field(pattern=r"^[0-9]{4}$")]] = Field(min_length=1)
    crs: str = Field("WGS84", description="The department's coordinate system")
    timeout_s: float = Field(5.0, gt=0, le=60)
    cache: Cache = Field(default_factory=Cache)
    operations: Operations
    mapping: ComponentMapping

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
        extra = set(self.district_bounds) - set(self.regions)
        if extra:
            raise ValueError(f"district_bounds for districts not served: {sorted(extra)}")
        if self.mapping.location.crs is not None:
            check_crs(self.mapping.location.crs)
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


def parse_spec_text(text: str, *, filename: str = "spec") -> ConnectorSpec:
    """A spec from YAML or JSON text; pydantic's ValidationError or ValueError if it is not one."""
    try:
        data = orjson.loads(text) if filename.endswith(".json") else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{filename}: not valid {'JSON' if filename.endswith('.json') else 'YAML'}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{filename}: a spec is a mapping at the top level")
    return ConnectorSpec.model_validate(data)


def load_spec(path: str | Path) -> ConnectorSpec:
    path = Path(path)
    return parse_spec_text(path.read_text(encoding="utf-8"), filename=path.name)


def spec_json_schema(ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
    schema = ConnectorSpec.model_json_schema(by_alias=True, ref_template=ref_template)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://yiwang.example.gov.cn/schemas/connector-spec-v1.json"
    return schema
