"""Mock 交通运输 (transport) department: parking lots, bus stops and traffic signals.

Dialect: a JSON REST API in camelCase with opaque cursor pagination, BD-09 (Baidu) coordinates and ISO-8601
UTC timestamps ("2026-10-01T04:00:00Z").

- ``GET /v2/assets?areaCodes=&gridId=&classCodes=&conditions=&bbox=&near=&limit=&cursor=``
  -> ``{"items": [Asset...], "nextCursor": str | null, "totalCount": int}``; list parameters are
  comma-separated, ``bbox`` is ``minLng,minLat,maxLng,maxLat`` and ``near`` is ``lng,lat,radiusM``, both
  in BD-09.
- ``POST /v2/assets:batchGet`` with ``{"assetIds": [...]}`` -> ``{"items": [Asset...]}``; unknown ids are
  absent.
- ``GET /v2/status`` -> ``{"status": "SERVING", "version": ..., "serverTime": ...}``.
- ``GET /openapi.json`` -> the OpenAPI 3.0 description of the above.

Errors: ``{"error": {"code": "INVALID_ARGUMENT" | "NOT_FOUND" | "METHOD_NOT_ALLOWED", "message": ...}}``.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mocks.city import (
    DEPARTMENT_CLASSES,
    DEPARTMENT_NAMES,
    BaseComponent,
    Inventory,
    attributes,
    organizations,
)
from mocks.control import MockControl
from mocks.datums import bd09_from_wgs84, wgs84_from_bd09
from mocks.memo import SerialisedOnce
from schema.codes import is_component_id, is_grid_code, is_region_code

DEPARTMENT = "transport"
API_VERSION = "2.3.1"
DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 500
MAX_BATCH_IDS = 100
COORDINATE_DECIMALS = 7  # about 1 cm; Baidu itself serves 6-7 decimals
ROUTE_SEPARATOR = ";"

CONDITION_BY_STATUS = {
    "INTACT": "GOOD",
    "DAMAGED": "BROKEN",
    "MISSING": "LOST",
    "OCCUPIED": "OCCUPIED",
    "RETIRED": "DECOMMISSIONED",
}
STATUS_BY_CONDITION = {condition: status for status, condition in CONDITION_BY_STATUS.items()}
CLASS_CODES = tuple(DEPARTMENT_CLASSES[DEPARTMENT])


class InvalidArgument(Exception):
    """A request the dialect refuses with HTTP 400."""


# --- rendering ----------------------------------------------------------------------------------------------
def utc_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode()


def decode_cursor(cursor: str) -> str:
    try:
        last_id = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidArgument("cursor is not a cursor this service issued") from exc
    if not is_component_id(last_id):
        raise InvalidArgument("cursor is not a cursor this service issued")
    return last_id


def _class_block(component: BaseComponent, anchor: datetime) -> tuple[str, dict[str, Any]] | None:
    fields = attributes(component, anchor)
    code = component.class_code
    if code == "0201":
        return "parking", {
            "totalSpaces": fields["capacity"],
            "freeSpaces": fields["available_spaces"],
            "hourlyFeeCents": round(fields["fee_per_hour_yuan"] * 100),
            "observedAt": utc_timestamp(fields["reading_at"]),
        }
    if code == "0203":
        return "busStop", {"routes": ROUTE_SEPARATOR.join(fields["routes"]),
                           "shelter": "Y" if fields["has_shelter"] else "N"}
    if code == "0210":
        return "signal", {
            "intersectionName": fields["intersection"],
            "controlMode": fields["control_mode"],
            "phases": fields["phase_count"],
            "online": fields["online"],
        }
    return None


def render_asset(component: BaseComponent, anchor: datetime) -> dict[str, Any]:
    owner, maintainer = organizations(DEPARTMENT, component)
    bd_lng, bd_lat = bd09_from_wgs84(component.lng, component.lat)
    asset: dict[str, Any] = {
        "assetId": component.id,
        "classCode": component.class_code,
        "assetName": component.name,
        "condition": CONDITION_BY_STATUS[component.status],
        "areaCode": component.region_code,
        "gridId": component.grid_code,
        "position": {"bdLng": round(bd_lng, COORDINATE_DECIMALS),
                     "bdLat": round(bd_lat, COORDINATE_DECIMALS)},
        "managingUnit": {"name": owner.name, "uscc": owner.credit_code},
        "maintenanceUnit": {"name": maintainer.name, "uscc": maintainer.credit_code},
        "authority": DEPARTMENT_NAMES[DEPARTMENT],
        "lastModified": utc_timestamp(component.updated_at),
    }
    block = _class_block(component, anchor)
    if block is not None:
        asset[block[0]] = block[1]
    return asset


# --- request parsing ----------------------------------------------------------------------------------------
def _csv(request: Request, name: str) -> list[str] | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    return [part.strip() for part in raw.split(",")]


def _validated_list(
    request: Request, name: str, valid: Callable[[str], bool], expected: str,
) -> list[str] | None:
    values = _csv(request, name)
    if values is not None:
        for value in values:
            if not valid(value):
                raise InvalidArgument(f"{name}: '{value}' is not {expected}")
    return values


def _floats(request: Request, name: str, count: int, shape: str) -> list[float] | None:
    values = _csv(request, name)
    if values is None:
        return None
    try:
        numbers = [float(value) for value in values]
    except ValueError as exc:
        raise InvalidArgument(f"{name} must be {shape}") from exc
    if len(numbers) != count or not all(math.isfinite(number) for number in numbers):
        raise InvalidArgument(f"{name} must be {shape}")
    return numbers


def _bbox(request: Request) -> tuple[float, float, float, float] | None:
    numbers = _floats(request, "bbox", 4, "minLng,minLat,maxLng,maxLat (BD-09)")
    if numbers is None:
        return None
    min_lng, min_lat, max_lng, max_lat = numbers
    if min_lng > max_lng or min_lat > max_lat:
        raise InvalidArgument("bbox minimum exceeds maximum")
    # A BD-09 box maps to a WGS-84 box to within micrometres at city scale: the offset hardly varies over it.
    wgs_min = wgs84_from_bd09(min_lng, min_lat)
    wgs_max = wgs84_from_bd09(max_lng, max_lat)
    return wgs_min[0], wgs_min[1], wgs_max[0], wgs_max[1]


def _near(request: Request) -> tuple[float, float, float] | None:
    numbers = _floats(request, "near", 3, "lng,lat,radiusM (BD-09, metres)")
    if numbers is None:
        return None
    lng, lat, radius_m = numbers
    if radius_m <= 0:
        raise InvalidArgument("near radiusM must be positive")
    wgs_lng, wgs_lat = wgs84_from_bd09(lng, lat)
    return wgs_lng, wgs_lat, radius_m


def _limit(request: Request, max_limit: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return min(DEFAULT_PAGE_LIMIT, max_limit)
    if not raw.isdigit() or not 1 <= int(raw) <= max_limit:
        raise InvalidArgument(f"limit must be an integer within 1..{max_limit}")
    return int(raw)


def _grid(request: Request) -> str | None:
    grid_id = request.query_params.get("gridId") or None
    if grid_id is not None and not is_grid_code(grid_id):
        raise InvalidArgument(f"gridId: '{grid_id}' is not a 15-digit grid code")
    return grid_id


def _statuses(request: Request) -> list[str] | None:
    conditions = _validated_list(request, "conditions", STATUS_BY_CONDITION.__contains__,
                                 f"one of {sorted(STATUS_BY_CONDITION)}")
    return None if conditions is None else [STATUS_BY_CONDITION[condition] for condition in conditions]


def _is_class_code(value: str) -> bool:
    return len(value) == 4 and value.isdigit()


# --- the app ------------------------------------------------------------------------------------------------
def _json(payload: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json")


def _error(status_code: int, code: str, message: str) -> Response:
    return _json({"error": {"code": code, "message": message}}, status_code)


class TransportService:
    """Handlers over the inventory; rendered assets are cached because they derive from the id alone."""

    def __init__(self, inventory: Inventory, *, max_limit: int, max_batch: int) -> None:
        self.inventory = inventory
        self.max_limit = max_limit
        self.max_batch = max_batch
        self.asset: SerialisedOnce[BaseComponent] = SerialisedOnce(
            lambda component: render_asset(component, inventory.anchor))

    async def list_assets(self, request: Request) -> Response:
        limit = _limit(request, self.max_limit)
        cursor = request.query_params.get("cursor") or None
        last_id = decode_cursor(cursor) if cursor is not None else None
        selection = self.inventory.select(
            DEPARTMENT,
            regions=_validated_list(request, "areaCodes", is_region_code, "a 6-digit division code"),
            class_codes=_validated_list(request, "classCodes", _is_class_code, "a 4-digit class code"),
            grid_code=_grid(request),
            statuses=_statuses(request),
            bbox=_bbox(request),
            near=_near(request),
        )
        rows = selection.after_id(last_id, limit + 1)
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
        return _json({"items": [self.asset(c) for c in page], "nextCursor": next_cursor,
                      "totalCount": selection.total})

    async def batch_get(self, request: Request) -> Response:
        asset_ids = _asset_ids(await request.body(), self.max_batch)
        found = (self.inventory.get(asset_id) for asset_id in dict.fromkeys(asset_ids))
        items = [self.asset(c) for c in found if c is not None and c.department == DEPARTMENT]
        return _json({"items": items})

    async def status(self, request: Request) -> Response:
        server_time = utc_timestamp(datetime.now(UTC))
        return _json({"status": "SERVING", "version": API_VERSION, "serverTime": server_time})

    async def openapi(self, request: Request) -> Response:
        return _json(openapi_document(self.max_limit, self.max_batch))


def _asset_ids(body: bytes, max_batch: int) -> list[str]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument("body is not valid JSON") from exc
    asset_ids = payload.get("assetIds") if isinstance(payload, dict) else None
    if not isinstance(asset_ids, list) or not all(isinstance(asset_id, str) for asset_id in asset_ids):
        raise InvalidArgument("body must be {\"assetIds\": [string, ...]}")
    if len(asset_ids) > max_batch:
        raise InvalidArgument(f"at most {max_batch} assetIds per batchGet")
    return asset_ids


async def _invalid_argument(request: Request, exc: Exception) -> Response:
    return _error(400, "INVALID_ARGUMENT", str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "INVALID_ARGUMENT")
    return _error(exc.status_code, code, f"{request.method} {request.url.path}: {exc.detail}")


def create_app(inventory: Inventory, *, max_limit: int = MAX_PAGE_LIMIT,
               max_batch: int = MAX_BATCH_IDS) -> MockControl:
    service = TransportService(inventory, max_limit=max_limit, max_batch=max_batch)
    app = Starlette(
        routes=[
            Route("/v2/assets", service.list_assets, methods=["GET"]),
            Route("/v2/assets:batchGet", service.batch_get, methods=["POST"]),
            Route("/v2/status", service.status, methods=["GET"]),
            Route("/openapi.json", service.openapi, methods=["GET"]),
        ],
        exception_handlers={InvalidArgument: _invalid_argument, HTTPException: _http_error},
    )
    return MockControl(app)


# --- OpenAPI ------------------------------------------------------------------------------------------------
def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(
    properties: dict[str, Any], required: Sequence[str], description: str | None = None,
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(required)}
    if description:
        schema["description"] = description
    return schema


def _csv_parameter(name: str, item: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "style": "form", "explode": False,
            "description": description, "schema": {"type": "array", "items": item}}


def _json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error_response() -> dict[str, Any]:
    return _json_body(_ref("Error"), "Invalid argument")


def _schemas(max_batch: int) -> dict[str, Any]:
    timestamp = {"type": "string", "format": "date-time",
                 "description": "ISO-8601 UTC, e.g. 2026-10-01T04:00:00Z"}
    credit_code = {"type": "string", "pattern": "^[0-9A-Z]{18}$", "description": "统一社会信用代码"}
    unit = _object({"name": {"type": "string"}, "uscc": credit_code}, ["name", "uscc"])
    return {
        "Unit": unit,
        "Position": _object({"bdLng": {"type": "number", "format": "double"},
                             "bdLat": {"type": "number", "format": "double"}}, ["bdLng", "bdLat"],
                            "BD-09 (Baidu) coordinates"),
        "BusStop": _object({"routes": {"type": "string", "description": "Routes joined by ';', e.g. 1路;5路"},
                            "shelter": {"type": "string", "enum": ["Y", "N"]}}, ["routes", "shelter"]),
        "Signal": _object({"intersectionName": {"type": "string"},
                           "controlMode": {"type": "string", "enum": ["FIXED_TIME", "ACTUATED", "ADAPTIVE"]},
                           "phases": {"type": "integer"}, "online": {"type": "boolean"}},
                          ["intersectionName", "controlMode", "phases", "online"]),
        "Parking": _object({"totalSpaces": {"type": "integer"}, "freeSpaces": {"type": "integer"},
                            "hourlyFeeCents": {"type": "integer", "description": "Fee per hour in fen"},
                            "observedAt": timestamp},
                           ["totalSpaces", "freeSpaces", "hourlyFeeCents", "observedAt"]),
        "Asset": _object({
            "assetId": {"type": "string", "pattern": "^[0-9]{16}$", "description": "部件标识码"},
            "classCode": {"type": "string", "enum": list(CLASS_CODES)},
            "assetName": {"type": "string"},
            "condition": {"type": "string", "enum": list(STATUS_BY_CONDITION)},
            "areaCode": {"type": "string", "pattern": "^[0-9]{6}$"},
            "gridId": {"type": "string", "pattern": "^[0-9]{15}$"},
            "position": _ref("Position"),
            "managingUnit": _ref("Unit"),
            "maintenanceUnit": _ref("Unit"),
            "authority": {"type": "string", "description": "主管部门"},
            "lastModified": timestamp,
            "busStop": _ref("BusStop"),
            "signal": _ref("Signal"),
            "parking": _ref("Parking"),
        }, ["assetId", "classCode", "assetName", "condition", "areaCode", "gridId", "position",
            "managingUnit", "maintenanceUnit", "authority", "lastModified"],
            "busStop is present for class 0203, signal for 0210, parking for 0201"),
        "AssetPage": _object({"items": {"type": "array", "items": _ref("Asset")},
                              "nextCursor": {"type": "string", "nullable": True},
                              "totalCount": {"type": "integer"}}, ["items", "nextCursor", "totalCount"]),
        "BatchGetRequest": _object({"assetIds": {"type": "array", "items": {"type": "string"},
                                                 "maxItems": max_batch}}, ["assetIds"]),
        "BatchGetResponse": _object({"items": {"type": "array", "items": _ref("Asset")}}, ["items"]),
        "Status": _object({"status": {"type": "string", "enum": ["SERVING", "NOT_SERVING"]},
                           "version": {"type": "string"}, "serverTime": timestamp},
                          ["status", "version", "serverTime"]),
        "Error": _object({"error": _object({"code": {"type": "string"}, "message": {"type": "string"}},
                                           ["code", "message"])}, ["error"]),
    }


def _list_parameters(max_limit: int) -> list[dict[str, Any]]:
    return [
        _csv_parameter("areaCodes", {"type": "string", "pattern": "^[0-9]{6}$"}, "Districts (GB/T 2260)"),
        {"name": "gridId", "in": "query", "required": False, "description": "15-digit unit grid code",
         "schema": {"type": "string", "pattern": "^[0-9]{15}$"}},
        _csv_parameter("classCodes", {"type": "string", "pattern": "^[0-9]{4}$"}, "Component class codes"),
        _csv_parameter("conditions", {"type": "string", "enum": list(STATUS_BY_CONDITION)},
                       "Asset conditions"),
        _csv_parameter("bbox", {"type": "number"}, "minLng,minLat,maxLng,maxLat in BD-09"),
        _csv_parameter("near", {"type": "number"}, "lng,lat,radiusM: BD-09 centre and radius in metres"),
        {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": max_limit, "default": DEFAULT_PAGE_LIMIT}},
        {"name": "cursor", "in": "query", "required": False, "description": "nextCursor of the previous page",
         "schema": {"type": "string"}},
    ]


def openapi_document(max_limit: int = MAX_PAGE_LIMIT, max_batch: int = MAX_BATCH_IDS) -> dict[str, Any]:
    bad_request = {"400": _error_response()}
    return {
        "openapi": "3.0.3",
        "info": {"title": "济宁市交通运输局 交通设施资产接口", "version": API_VERSION},
        "paths": {
            "/v2/assets": {"get": {
                "operationId": "listAssets",
                "summary": "Assets in ascending assetId order, cursor-paginated",
                "parameters": _list_parameters(max_limit),
                "responses": {"200": _json_body(_ref("AssetPage"), "A page of assets"), **bad_request},
            }},
            "/v2/assets:batchGet": {"post": {
                "operationId": "batchGetAssets",
                "summary": "Assets by id; unknown ids are absent",
                "requestBody": {"required": True, **_json_body(_ref("BatchGetRequest"), "Ids to fetch")},
                "responses": {"200": _json_body(_ref("BatchGetResponse"), "The known assets"), **bad_request},
            }},
            "/v2/status": {"get": {
                "operationId": "getStatus",
                "responses": {"200": _json_body(_ref("Status"), "Service status")},
            }},
        },
        "components": {"schemas": _schemas(max_batch)},
    }
