"""The declarative connector spec: what a department's system serves and how to read it, validated strictly (unknown
keys are errors) and published as a JSON Schema (``spec_json_schema``); read from YAML or JSON by ``load_spec``.

Its parts are declared in ``operations.py`` (requests), ``fields.py`` (``mapping``: records to components) and
``declared_types.py`` (``types``); expressions that pick values out of the department's answers are JMESPath
(https://jmespath.org).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import orjson
import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator

from connectors.catalogue import TYPE_BY_CLASS
from connectors.spec.crs import check_crs, coverage_problem
from connectors.spec.declared_types import DeclaredType
from connectors.spec.fields import ComponentMapping
from connectors.spec.fields import FieldMap as FieldMap  # re-exported: connectors/spec/mapping.py imports it from here
from connectors.spec.fields import OrganizationMap as OrganizationMap  # likewise
from connectors.spec.operations import Operations
from connectors.spec.problems import SpecInvalid, SpecProblem, SpecRuleError, explain
from connectors.spec.strict import Strict, at_key
from schema.codes import load_catalogue

DEPARTMENT_ID_PATTERN = r"^[a-z][a-z0-9_]{1,31}$"
GATEWAY_FILTER_MAX_RECORDS = 2000  # records the gateway may read to apply filters a department cannot take
GATEWAY_FILTER_MAX_RECORDS_CAP = 10_000


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


# --- the whole spec, and reading it ---------------------------------------------------------------------------
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
            at_key(key, check_crs, crs)
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
