"""Mock 住房和城乡建设 (housing and construction) system: construction sites (0602) and buildings (2150).

Dialect: an OAuth2-protected JSON API. ``POST /oauth/token`` (client credentials, in the form body or as
HTTP Basic) hands out Bearer tokens that expire; every ``/api`` call needs one, else 401
``{"error":"invalid_token"}``. Searches are ``offset``/``limit`` pages in ascending id order, comma-separated
list filters, GeoJSON geometry in WGS-84, numeric status codes 1..5 with a ``statusText``, camelCase fields
and local times with ``+08:00``:

- ``GET /api/buildings``, ``GET /api/construction-sites``: district, grid, status, bbox, near, offset, limit
- ``GET /api/objects``: either ``ids=a,b,c`` (batch across both kinds) or a search over both kinds with
  ``classCode`` and the same filters
- ``GET /api/ping``; ``GET /openapi.json`` (no token needed)

Every page answers ``{"results": [...], "count": N, "offset": O, "limit": L}``; errors are
``{"error", "detail"}``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mocks.city import DEPARTMENT_NAMES, BaseComponent, Inventory, Selection, attributes, organizations
from mocks.control import MockControl
from mocks.memo import SerialisedOnce
from schema.codes import load_catalogue

DEPARTMENT = "housing"
DEMO_CLIENT_ID = "yiwang-gateway"
DEMO_CLIENT_SECRET = "housing-demo-secret"
DEFAULT_TOKEN_TTL_S = 300
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_BATCH_IDS = 100
SITE_CLASS = "0602"
BUILDING_CLASS = "2150"
HOUSING_CLASSES = (SITE_CLASS, BUILDING_CLASS)
KIND_BY_CLASS = {SITE_CLASS: "constructionSite", BUILDING_CLASS: "building"}
STATUS_CODES: dict[str, int] = {"INTACT": 1, "DAMAGED": 2, "MISSING": 3, "OCCUPIED": 4, "RETIRED": 5}
STATUS_TEXTS: dict[int, str] = {1: "完好", 2: "破损", 3: "丢失", 4: "占用", 5: "废弃"}
STATUS_BY_CODE: dict[int, str] = {code: status for status, code in STATUS_CODES.items()}
DUST_UNIT = "µg/m³"
NOISE_UNIT = "dB(A)"
SEARCH_PARAMS = frozenset({"district", "grid", "status", "bbox", "near", "offset", "limit"})
OBJECT_SEARCH_PARAMS = SEARCH_PARAMS | {"classCode"}


class BadParameter(Exception):
    """A request the department refuses with 400 in its own error style."""

    def __init__(self, detail: str, error: str = "invalid_request") -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail


def _json(payload: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json",
                    headers=dict(headers or {}))


def _error(status_code: int, error: str, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    return _json({"error": error, "detail": detail}, status_code, headers)


# --- tokens -------------------------------------------------------------------------------------------------
@dataclass
class TokenIssuer:
    """Client-credentials tokens held in memory with their expiry on ``clock``."""

    client_id: str
    client_secret: str
    ttl_s: int
    clock: Callable[[], float]

    def __post_init__(self) -> None:
        self._expiry: dict[str, float] = {}

    def credentials_match(self, client_id: str, client_secret: str) -> bool:
        return hmac.compare_digest(client_id.encode(), self.client_id.encode()) and hmac.compare_digest(
            client_secret.encode(), self.client_secret.encode())

    def issue(self) -> str:
        now = self.clock()
        self._expiry = {token: expiry for token, expiry in self._expiry.items() if expiry > now}
        token = secrets.token_urlsafe(24)
        self._expiry[token] = now + self.ttl_s
        return token

    def is_valid(self, token: str) -> bool:
        expiry = self._expiry.get(token)
        return expiry is not None and expiry > self.clock()


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise BadParameter("malformed Basic credentials", "invalid_client") from exc
    client_id, separator, client_secret = decoded.partition(":")
    if not separator:
        raise BadParameter("malformed Basic credentials", "invalid_client")
    return unquote(client_id), unquote(client_secret)


def _client_credentials(form: Mapping[str, str], authorization: str | None) -> tuple[str, str]:
    basic = _basic_credentials(authorization) if authorization else None
    in_form = "client_id" in form or "client_secret" in form
    if basic is not None and in_form:
        raise BadParameter("use one client authentication method, not both")
    if basic is not None:
        return basic
    if not form.get("client_id") or "client_secret" not in form:
        raise BadParameter("client_id and client_secret are required")
    return form["client_id"], form["client_secret"]


def _bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


# --- parameters ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SearchFilters:
    regions: tuple[str, ...] | None
    grid_code: str | None
    statuses: tuple[str, ...] | None
    bbox: tuple[float, float, float, float] | None
    near: tuple[float, float, float] | None


def _comma_list(value: str, name: str) -> list[str]:
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        raise BadParameter(f"{name} must be a comma-separated list without empty items")
    return items


def _digits(value: str, length: int) -> bool:
    return len(value) == length and value.isdigit()


def _districts(value: str) -> tuple[str, ...]:
    codes = _comma_list(value, "district")
    bad = [code for code in codes if not _digits(code, 6)]
    if bad:
        raise BadParameter(f"district codes are 6 digits, got {bad}")
    return tuple(codes)


def _grid(value: str) -> str:
    if not _digits(value, 15):
        raise BadParameter(f"grid must be a 15-digit grid code, got {value!r}")
    return value


def _statuses(value: str) -> tuple[str, ...]:
    try:
        codes = [int(item) for item in _comma_list(value, "status")]
    except ValueError as exc:
        raise BadParameter(f"status must be codes 1..5, got {value!r}") from exc
    if any(code not in STATUS_BY_CODE for code in codes):
        raise BadParameter(f"status must be codes 1..5, got {value!r}")
    return tuple(STATUS_BY_CODE[code] for code in codes)


def _floats(value: str, name: str, count: int) -> list[float]:
    try:
        numbers = [float(item) for item in _comma_list(value, name)]
    except ValueError as exc:
        raise BadParameter(f"{name} must be {count} comma-separated numbers") from exc
    if len(numbers) != count:
        raise BadParameter(f"{name} must be {count} comma-separated numbers")
    return numbers


def _bbox(value: str) -> tuple[float, float, float, float]:
    min_lng, min_lat, max_lng, max_lat = _floats(value, "bbox", 4)
    if min_lng > max_lng or min_lat > max_lat:
        raise BadParameter("bbox must be minLng,minLat,maxLng,maxLat with min <= max")
    return min_lng, min_lat, max_lng, max_lat


def _near(value: str) -> tuple[float, float, float]:
    lng, lat, radius_m = _floats(value, "near", 3)
    if radius_m <= 0:
        raise BadParameter("near radius (metres) must be positive")
    return lng, lat, radius_m


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadParameter(f"{name} must be an integer, got {raw!r}") from exc
    if not low <= value <= high:
        raise BadParameter(f"{name} must be within {low}..{high}, got {value}")
    return value


def _class_codes(value: str) -> tuple[str, ...]:
    codes = _comma_list(value, "classCode")
    unknown = [code for code in codes if code not in HOUSING_CLASSES]
    if unknown:
        raise BadParameter(f"classCode must be among {list(HOUSING_CLASSES)}, got {unknown}")
    return tuple(codes)


def _single_params(request: Request, allowed: frozenset[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            raise BadParameter(f"unknown parameter {name!r}")
        if name in params:
            raise BadParameter(f"parameter {name!r} given twice; use a comma-separated list")
        params[name] = value
    return params


def _search_filters(params: Mapping[str, str]) -> SearchFilters:
    return SearchFilters(
        regions=_districts(params["district"]) if "district" in params else None,
        grid_code=_grid(params["grid"]) if "grid" in params else None,
        statuses=_statuses(params["status"]) if "status" in params else None,
        bbox=_bbox(params["bbox"]) if "bbox" in params else None,
        near=_near(params["near"]) if "near" in params else None,
    )


# --- rendering ----------------------------------------------------------------------------------------------
def _iso(value: datetime | date) -> str:
    return value.isoformat()


class Renderer:
    """Components in the housing dialect. An object derives from the component and the inventory's anchor alone, so
    ``record`` keeps each one serialised (an immutable ``orjson.Fragment``) after its first rendering."""

    def __init__(self, inventory: Inventory) -> None:
        self.anchor = inventory.anchor
        self.authority = DEPARTMENT_NAMES[DEPARTMENT]
        catalogue = load_catalogue()
        self.class_names = {code: catalogue.components[code].name for code in HOUSING_CLASSES}
        self.record: SerialisedOnce[BaseComponent] = SerialisedOnce(self.render)

    def render(self, component: BaseComponent) -> dict[str, Any]:
        owner, maintainer = organizations(DEPARTMENT, component)
        status = STATUS_CODES[component.status]
        common: dict[str, Any] = {
            "objectId": component.id,
            "kind": KIND_BY_CLASS[component.class_code],
            "classCode": component.class_code,
            "className": self.class_names[component.class_code],
            "name": component.name,
            "status": status,
            "statusText": STATUS_TEXTS[status],
            "regionCode": component.region_code,
            "gridCode": component.grid_code,
            "geometry": {"type": "Point", "coordinates": [component.lng, component.lat]},
            "competentAuthority": self.authority,
            "owner": {"name": owner.name, "creditCode": owner.credit_code},
            "maintainer": {"name": maintainer.name, "creditCode": maintainer.credit_code},
            "modifiedAt": _iso(component.updated_at),
        }
        attrs = attributes(component, self.anchor)
        if component.class_code == BUILDING_CLASS:
            return {**common, **self._building_fields(attrs)}
        return {**common, **self._site_fields(attrs)}

    @staticmethod
    def _building_fields(attrs: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "address": attrs["address"],
            "floorsAboveGround": attrs["floors"],
            "heightM": attrs["height_m"],
            "completionYear": attrs["year_built"],
            "structureType": attrs["structure"],
            "useType": attrs["usage"],
        }

    @staticmethod
    def _site_fields(attrs: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "permitNo": attrs["permit_number"],
            "contractor": {"name": attrs["contractor"]["name"]},
            "startDate": _iso(attrs["start_date"]),
            "plannedCompletion": _iso(attrs["planned_end_date"]),
            "dust": {"pm10": attrs["pm10"], "unit": DUST_UNIT},
            "noise": {"value": attrs["noise_db"], "unit": NOISE_UNIT},
            "observedAt": _iso(attrs["reading_at"]),
        }


# --- the app ------------------------------------------------------------------------------------------------
class HousingApi:
    def __init__(self, inventory: Inventory, issuer: TokenIssuer) -> None:
        self.inventory = inventory
        self.issuer = issuer
        self.renderer = Renderer(inventory)

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        try:
            if form.get("grant_type") != "client_credentials":
                raise BadParameter("only client_credentials is supported", "unsupported_grant_type")
            client_id, client_secret = _client_credentials(form, request.headers.get("authorization"))
        except BadParameter as exc:
            return _error(400, exc.error, exc.detail)
        if not self.issuer.credentials_match(client_id, client_secret):
            return _error(401, "invalid_client", "unknown client or wrong secret",
                          {"www-authenticate": 'Basic realm="housing"'})
        return _json({"access_token": self.issuer.issue(), "token_type": "Bearer",
                      "expires_in": self.issuer.ttl_s}, headers={"cache-control": "no-store"})

    def _authorised(self, request: Request) -> Response | None:
        token = _bearer_token(request)
        if token is None or not self.issuer.is_valid(token):
            detail = "missing Bearer token" if token is None else "token unknown or expired"
            return _error(401, "invalid_token", detail, {"www-authenticate": 'Bearer error="invalid_token"'})
        return None

    async def buildings(self, request: Request) -> Response:
        return self._guarded(request, lambda: self._kind_search(request, BUILDING_CLASS))

    async def construction_sites(self, request: Request) -> Response:
        return self._guarded(request, lambda: self._kind_search(request, SITE_CLASS))

    async def objects(self, request: Request) -> Response:
        return self._guarded(request, lambda: self._objects(request))

    async def ping(self, request: Request) -> Response:
        return self._guarded(request, lambda: _json({"status": "UP", "service": DEPARTMENT}))

    async def openapi(self, request: Request) -> Response:
        return _json(openapi_document())

    def _guarded(self, request: Request, handler: Callable[[], Response]) -> Response:
        rejected = self._authorised(request)
        if rejected is not None:
            return rejected
        try:
            return handler()
        except BadParameter as exc:
            return _error(400, exc.error, exc.detail)

    def _objects(self, request: Request) -> Response:
        if "ids" in request.query_params:
            params = _single_params(request, OBJECT_SEARCH_PARAMS | {"ids"})
            if len(params) > 1:
                raise BadParameter("ids cannot be combined with search parameters")
            return self._batch(_comma_list(params["ids"], "ids"))
        params = _single_params(request, OBJECT_SEARCH_PARAMS)
        classes = _class_codes(params["classCode"]) if "classCode" in params else HOUSING_CLASSES
        return self._search(params, classes)

    def _batch(self, ids: Sequence[str]) -> Response:
        if len(ids) > MAX_BATCH_IDS:
            raise BadParameter(f"at most {MAX_BATCH_IDS} ids per request, got {len(ids)}")
        found = sorted({c.id: c for c in map(self.inventory.get, ids)
                        if c is not None and c.class_code in HOUSING_CLASSES}.values(), key=lambda c: c.id)
        return _json({"results": [self.renderer.record(c) for c in found], "count": len(found),
                      "offset": 0, "limit": len(ids)})

    def _kind_search(self, request: Request, class_code: str) -> Response:
        return self._search(_single_params(request, SEARCH_PARAMS), (class_code,))

    def _search(self, params: Mapping[str, str], classes: Sequence[str]) -> Response:
        filters = _search_filters(params)
        offset = _int_param(params, "offset", 0, 0, 10**9)
        limit = _int_param(params, "limit", DEFAULT_PAGE_SIZE, 0, MAX_PAGE_SIZE)
        selection = self._select(filters, classes)
        rows = selection.slice(offset, limit) if limit else []
        return _json({"results": [self.renderer.record(c) for c in rows], "count": selection.total,
                      "offset": offset, "limit": limit})

    def _select(self, filters: SearchFilters, classes: Sequence[str]) -> Selection:
        return self.inventory.select(
            DEPARTMENT, regions=filters.regions, class_codes=classes, grid_code=filters.grid_code,
            statuses=filters.statuses, bbox=filters.bbox, near=filters.near)


def create_app(
    inventory: Inventory,
    *,
    client_id: str = DEMO_CLIENT_ID,
    client_secret: str = DEMO_CLIENT_SECRET,
    token_ttl_s: int = DEFAULT_TOKEN_TTL_S,
    clock: Callable[[], float] = time.monotonic,
) -> MockControl:
    """The housing department's API; ``clock`` (seconds) decides token expiry, so tests can move time on."""
    if token_ttl_s <= 0:
        raise ValueError("token_ttl_s must be positive")
    api = HousingApi(inventory, TokenIssuer(client_id, client_secret, token_ttl_s, clock))
    app = Starlette(routes=[
        Route("/oauth/token", api.token, methods=["POST"]),
        Route("/api/buildings", api.buildings, methods=["GET"]),
        Route("/api/construction-sites", api.construction_sites, methods=["GET"]),
        Route("/api/objects", api.objects, methods=["GET"]),
        Route("/api/ping", api.ping, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
    ])
    return MockControl(app)


# --- OpenAPI ------------------------------------------------------------------------------------------------
def _list_param(name: str, description: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "style": "form",
            "explode": False, "schema": {"type": "array", "items": item}}


def _string_param(name: str, description: str, pattern: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string", "pattern": pattern}}


_NUMBER = r"-?\d+(\.\d+)?"
SEARCH_PARAMETERS: list[dict[str, Any]] = [
    _list_param("district", "GB/T 2260 district codes (6 digits)", {"type": "string", "pattern": r"^\d{6}$"}),
    _string_param("grid", "15-digit unit grid code (单元网格)", r"^\d{15}$"),
    _list_param("status", "status codes: 1 完好, 2 破损, 3 丢失, 4 占用, 5 废弃",
                {"type": "integer", "enum": list(STATUS_TEXTS)}),
    _string_param("bbox", "WGS-84 box minLng,minLat,maxLng,maxLat",
                  rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$"),
    _string_param("near", "WGS-84 centre and radius in metres: lng,lat,radiusM",
                  rf"^{_NUMBER},{_NUMBER},{_NUMBER}$"),
    {"name": "offset", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 0, "default": 0}},
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 0, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE}},
]
OBJECT_PARAMETERS: list[dict[str, Any]] = [
    _list_param("ids", f"batch fetch by 部件标识码 (at most {MAX_BATCH_IDS}); excludes the search parameters",
                {"type": "string", "pattern": r"^\d{16}$"}),
    _list_param("classCode", "classes to search (0602 工地, 2150 房屋建筑); default both",
                {"type": "string", "enum": list(HOUSING_CLASSES)}),
    *SEARCH_PARAMETERS,
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(fmt: str | None = None) -> dict[str, str]:
    return {"type": "string", "format": fmt} if fmt else {"type": "string"}


_COMMON_PROPERTIES: dict[str, Any] = {
    "objectId": {"type": "string", "pattern": r"^\d{16}$", "description": "部件标识码"},
    "kind": {"type": "string", "enum": list(KIND_BY_CLASS.values())},
    "classCode": {"type": "string", "enum": list(HOUSING_CLASSES)},
    "className": _string(),
    "name": _string(),
    "status": {"type": "integer", "enum": list(STATUS_TEXTS)},
    "statusText": {"type": "string", "enum": list(STATUS_TEXTS.values())},
    "regionCode": {"type": "string", "pattern": r"^\d{6}$"},
    "gridCode": {"type": "string", "pattern": r"^\d{15}$"},
    "geometry": _ref("Point"),
    "competentAuthority": {"type": "string", "description": "主管部门"},
    "owner": _ref("Organization"),
    "maintainer": _ref("Organization"),
    "modifiedAt": {"type": "string", "format": "date-time", "description": "local time with +08:00"},
}
_BUILDING_PROPERTIES: dict[str, Any] = {
    "address": _string(),
    "floorsAboveGround": {"type": "integer"},
    "heightM": {"type": "number", "description": "metres"},
    "completionYear": {"type": "integer"},
    "structureType": _string(),
    "useType": _string(),
}
_SITE_PROPERTIES: dict[str, Any] = {
    "permitNo": {"type": "string", "description": "施工许可证号"},
    "contractor": {"type": "object", "required": ["name"], "properties": {"name": _string()}},
    "startDate": _string("date"),
    "plannedCompletion": _string("date"),
    "dust": {"type": "object", "required": ["pm10", "unit"],
             "properties": {"pm10": {"type": "number"}, "unit": {"type": "string", "enum": [DUST_UNIT]}}},
    "noise": {"type": "object", "required": ["value", "unit"],
              "properties": {"value": {"type": "number"}, "unit": {"type": "string", "enum": [NOISE_UNIT]}}},
    "observedAt": {"type": "string", "format": "date-time"},
}


def _object_schema(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    merged = {**_COMMON_PROPERTIES, **properties}
    return {"type": "object", "description": description, "required": list(merged), "properties": merged}


def _page_schema(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["results", "count", "offset", "limit"], "properties": {
        "results": {"type": "array", "items": item},
        "count": {"type": "integer", "description": "all matches of the query, not just this page"},
        "offset": {"type": "integer"}, "limit": {"type": "integer"}}}


def _responses(ok_schema: str, description: str) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": _ref("Error")}}}
    return {"200": {"description": description, "content": {"application/json": {"schema": _ref(ok_schema)}}},
            "400": {"description": "bad parameter", **error},
            "401": {"description": "missing, unknown or expired token", **error}}


def _search_operation(operation_id: str, summary: str, page: str) -> dict[str, Any]:
    return {"get": {"operationId": operation_id, "summary": summary, "parameters": SEARCH_PARAMETERS,
                    "responses": _responses(page, "one page in ascending objectId order")}}


def openapi_document() -> dict[str, Any]:
    token_form = {"type": "object", "required": ["grant_type"], "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "client_id": _string(), "client_secret": _string()}}
    token_answer = {"type": "object", "required": ["access_token", "token_type", "expires_in"],
                    "properties": {
        "access_token": _string(), "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer", "description": "seconds"}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "济宁市住房和城乡建设局 房屋建筑与工地 API", "version": "1.0.0",
                 "description": "Buildings (2150) and construction sites (0602); GeoJSON in WGS-84."},
        "servers": [{"url": "/"}],
        "security": [{"oauth2": []}],
        "paths": {
            "/oauth/token": {"post": {
                "operationId": "issueToken", "summary": "OAuth2 client-credentials token", "security": [],
                "requestBody": {"required": True,
                                "content": {"application/x-www-form-urlencoded": {"schema": token_form}}},
                "responses": {
                    "200": {"description": "a Bearer token",
                            "content": {"application/json": {"schema": token_answer}}},
                    "400": {"description": "bad grant",
                            "content": {"application/json": {"schema": _ref("Error")}}},
                    "401": {"description": "wrong client credentials",
                            "content": {"application/json": {"schema": _ref("Error")}}}}}},
            "/api/buildings": _search_operation("searchBuildings", "房屋建筑 (2150)", "BuildingPage"),
            "/api/construction-sites": _search_operation(
                "searchConstructionSites", "工地 (0602)", "ConstructionSitePage"),
            "/api/objects": {"get": {
                "operationId": "objects", "summary": "batch fetch by ids, or search across both kinds",
                "parameters": OBJECT_PARAMETERS,
                "responses": _responses("ObjectPage", "matches in ascending objectId order")}},
            "/api/ping": {"get": {"operationId": "ping", "summary": "health", "responses": {
                "200": {"description": "up", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["status", "service"],
                    "properties": {"status": {"type": "string", "enum": ["UP"]}, "service": _string()}}}}},
                "401": {"description": "missing, unknown or expired token",
                        "content": {"application/json": {"schema": _ref("Error")}}}}}},
        },
        "components": {
            "securitySchemes": {"oauth2": {"type": "oauth2", "flows": {"clientCredentials": {
                "tokenUrl": "/oauth/token", "scopes": {}}}}},
            "schemas": {
                "Point": {"type": "object", "required": ["type", "coordinates"], "properties": {
                    "type": {"type": "string", "enum": ["Point"]},
                    "coordinates": {"type": "array", "minItems": 2, "maxItems": 2,
                                    "items": {"type": "number"}, "description": "[lng, lat] in WGS-84"}}},
                "Organization": {"type": "object", "required": ["name", "creditCode"], "properties": {
                    "name": _string(), "creditCode": {"type": "string", "description": "统一社会信用代码"}}},
                "Building": _object_schema("房屋建筑", _BUILDING_PROPERTIES),
                "ConstructionSite": _object_schema("工地", _SITE_PROPERTIES),
                "HousingObject": {"oneOf": [_ref("Building"), _ref("ConstructionSite")], "discriminator": {
                    "propertyName": "kind", "mapping": {
                        "building": "#/components/schemas/Building",
                        "constructionSite": "#/components/schemas/ConstructionSite"}}},
                "BuildingPage": _page_schema(_ref("Building")),
                "ConstructionSitePage": _page_schema(_ref("ConstructionSite")),
                "ObjectPage": _page_schema(_ref("HousingObject")),
                "Error": {"type": "object", "required": ["error", "detail"],
                          "properties": {"error": _string(), "detail": _string()}},
            },
        },
    }
