"""Mock 供水排水 (water supply and drainage) department: the 济宁市城乡水务局 facility service.

Dialect: JSON over ``/api/v1``, snake_case fields, ``page``/``size`` pagination (page is 1-based, size at most
1000), GCJ-02 coordinates, pressure in kPa, naive local times (``2026-10-01 12:00:00``) and the envelope
``{"code": 0, "msg": "ok", "data": {...}}``. A bad parameter answers HTTP 400 with ``code`` 40001 and a
Chinese ``msg``. Latest readings are decimal strings (the service serialises Java ``BigDecimal`` that way).

- ``GET /api/v1/facilities?district_codes=&grid_code=&type_codes=&state=&bbox=&center=&radius=&page=&size=``
- ``GET /api/v1/facilities/batch?codes=id1,id2`` (at most 100 codes)
- ``GET /api/v1/health``
- ``GET /openapi.json``
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
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
    DISTRICTS,
    BaseComponent,
    Inventory,
    attributes,
    organizations,
)
from mocks.control import MockControl
from mocks.datums import gcj02_from_wgs84, wgs84_from_gcj02
from mocks.memo import SerialisedOnce
from schema.codes import is_component_id, is_grid_code, is_region_code, load_catalogue

DEPARTMENT = "water"
SERVICE_NAME = "jnsw-facility-service"
SERVICE_VERSION = "2.3.1"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000
MAX_BATCH_CODES = 100
OK_CODE = 0
BAD_PARAMETER_CODE = 40001
NOT_FOUND_CODE = 40401
COORDINATE_DECIMALS = 7
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATA_SOURCE = "实测"

STATE_BY_STATUS: dict[str, str] = {
    "INTACT": "完好",
    "DAMAGED": "破损",
    "MISSING": "丢失",
    "OCCUPIED": "占用",
    "RETIRED": "废弃",
}
STATUS_BY_STATE: dict[str, str] = {state: status for status, state in STATE_BY_STATUS.items()}

# Canonical attribute name -> (section, dialect name). Readings go to ``latest`` as decimal strings.
_ATTR_FIELDS = ("material", "shape", "diameter_mm", "hydrant_type", "outlet_diameter_mm", "pipe_diameter_mm",
                "warning_depth_cm", "sampling_point")
_READING_FIELDS = ("flow_m3h", "turbidity_ntu", "ph", "residual_chlorine_mgl", "ponding_depth_cm",
                   "water_level_m", "rainfall_mm")


class BadParameter(Exception):
    """A request parameter the department refuses (HTTP 400, code 40001)."""


# --- rendering ----------------------------------------------------------------------------------------------
def _local_time(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def _decimal(value: float) -> str:
    return repr(float(value))


def _latest(canonical: dict[str, Any]) -> dict[str, str] | None:
    if "reading_at" not in canonical:
        return None
    latest = {name: _decimal(canonical[name]) for name in _READING_FIELDS if name in canonical}
    if "pressure_mpa" in canonical:
        latest["pressure_kpa"] = f"{canonical['pressure_mpa'] * 1000:.2f}"
    latest["reading_time"] = _local_time(canonical["reading_at"])
    return latest


class FacilityRenderer:
    """Turns inventory components into the department's facility records.

    A record derives from the component and the inventory's anchor alone, both fixed for the life of the app, so
    ``record`` keeps each one serialised (an ``orjson.Fragment``, immutable) and renders a component once, not on
    every request: the mock then costs little CPU per page, and a benchmark measures the gateway, not the mock.
    Faults (``mocks.control``) act on the finished response, never on the memo."""

    def __init__(self, inventory: Inventory) -> None:
        self.anchor = inventory.anchor
        self.department_name = DEPARTMENT_NAMES[DEPARTMENT]
        catalogue = load_catalogue()
        self.type_names = {code: catalogue.components[code].name for code in DEPARTMENT_CLASSES[DEPARTMENT]}
        self.record: SerialisedOnce[BaseComponent] = SerialisedOnce(self.render)

    def render(self, component: BaseComponent) -> dict[str, Any]:
        owner, maintainer = organizations(DEPARTMENT, component)
        gcj_lng, gcj_lat = gcj02_from_wgs84(component.lng, component.lat)
        canonical = attributes(component, self.anchor)
        return {
            "facility_code": component.id,
            "type_code": component.class_code,
            "type_name": self.type_names[component.class_code],
            "facility_name": component.name,
            "state": STATE_BY_STATUS[component.status],
            "district_code": component.region_code,
            "district_name": DISTRICTS[component.region_code].name,
            "grid_code": component.grid_code,
            "road_name": component.road,
            "gcj_lng": round(gcj_lng, COORDINATE_DECIMALS),
            "gcj_lat": round(gcj_lat, COORDINATE_DECIMALS),
            "dept_name": self.department_name,
            "owner_name": owner.name,
            "owner_credit_code": owner.credit_code,
            "maintainer_name": maintainer.name,
            "maintainer_credit_code": maintainer.credit_code,
            "data_source": DATA_SOURCE,
            "update_time": _local_time(component.updated_at),
            "attrs": {name: canonical[name] for name in _ATTR_FIELDS if name in canonical},
            "latest": _latest(canonical),
        }


def _envelope(data: Any, *, status_code: int = 200, code: int = OK_CODE, msg: str = "ok") -> Response:
    body = orjson.dumps({"code": code, "msg": msg, "data": data})
    return Response(body, status_code=status_code, media_type="application/json")


# --- parameter parsing --------------------------------------------------------------------------------------
def _csv(request: Request, name: str) -> list[str] | None:
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def _checked_csv(request: Request, name: str, valid: Callable[[str], bool]) -> list[str] | None:
    values = _csv(request, name)
    if values is not None:
        bad = [value for value in values if not valid(value)]
        if bad:
            raise BadParameter(f"{name} 格式错误: {','.join(bad)}")
    return values


def _floats(request: Request, name: str, count: int) -> list[float] | None:
    values = _csv(request, name)
    if values is None:
        return None
    try:
        numbers = [float(value) for value in values]
    except ValueError as exc:
        raise BadParameter(f"{name} 必须是 {count} 个数字") from exc
    if len(numbers) != count:
        raise BadParameter(f"{name} 必须是 {count} 个数字")
    return numbers


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadParameter(f"{name} 必须是整数") from exc
    if not low <= value <= high:
        raise BadParameter(f"{name} 必须在 {low}-{high} 之间")
    return value


def _statuses(request: Request) -> list[str] | None:
    states = _csv(request, "state")
    if states is None:
        return None
    unknown = [state for state in states if state not in STATUS_BY_STATE]
    if unknown:
        raise BadParameter(f"state 取值错误: {','.join(unknown)} (可选: {','.join(STATUS_BY_STATE)})")
    return [STATUS_BY_STATE[state] for state in states]


def _wgs_bbox(request: Request) -> tuple[float, float, float, float] | None:
    numbers = _floats(request, "bbox", 4)
    if numbers is None:
        return None
    min_lng, min_lat, max_lng, max_lat = numbers
    if min_lng > max_lng or min_lat > max_lat:
        raise BadParameter("bbox 应为 minlng,minlat,maxlng,maxlat")
    west, south = wgs84_from_gcj02(min_lng, min_lat)
    east, north = wgs84_from_gcj02(max_lng, max_lat)
    return west, south, east, north


def _wgs_near(request: Request) -> tuple[float, float, float] | None:
    centre = _floats(request, "center", 2)
    radius_raw = request.query_params.get("radius")
    if centre is None and not radius_raw:
        return None
    if centre is None or not radius_raw:
        raise BadParameter("center 与 radius 必须同时提供")
    try:
        radius = float(radius_raw)
    except ValueError as exc:
        raise BadParameter("radius 必须是数字(米)") from exc
    if radius <= 0:
        raise BadParameter("radius 必须大于 0")
    lng, lat = wgs84_from_gcj02(*centre)
    return lng, lat, radius


def _grid_code(request: Request) -> str | None:
    grid = request.query_params.get("grid_code") or None
    if grid is not None and not is_grid_code(grid):
        raise BadParameter(f"grid_code 格式错误: {grid}")
    return grid


def _is_type_code(value: str) -> bool:
    return len(value) == 4 and value.isdigit()


# --- the app ------------------------------------------------------------------------------------------------
def create_app(inventory: Inventory, *, max_page_size: int = MAX_PAGE_SIZE,
               max_batch_codes: int = MAX_BATCH_CODES) -> MockControl:
    renderer = FacilityRenderer(inventory)
    facility_count = inventory.select(DEPARTMENT).total

    async def facilities(request: Request) -> Response:
        page = _int(request, "page", 1, 1, 10**9)
        size = _int(request, "size", DEFAULT_PAGE_SIZE, 1, max_page_size)
        selection = inventory.select(
            DEPARTMENT,
            regions=_checked_csv(request, "district_codes", is_region_code),
            class_codes=_checked_csv(request, "type_codes", _is_type_code),
            grid_code=_grid_code(request),
            statuses=_statuses(request),
            bbox=_wgs_bbox(request),
            near=_wgs_near(request),
        )
        rows = selection.slice((page - 1) * size, size)
        return _envelope({"page": page, "size": size, "total": selection.total,
                          "records": [renderer.record(row) for row in rows]})

    async def batch(request: Request) -> Response:
        codes = _csv(request, "codes")
        if codes is None:
            raise BadParameter("codes 不能为空")
        if len(codes) > max_batch_codes:
            raise BadParameter(f"单次最多查询 {max_batch_codes} 个编码")
        found = {code: inventory.get(code) for code in set(codes) if is_component_id(code)}
        rows = sorted((row for row in found.values() if row is not None and row.department == DEPARTMENT),
                      key=lambda row: row.id)
        return _envelope({"total": len(rows), "records": [renderer.record(row) for row in rows]})

    async def health(request: Request) -> Response:
        return _envelope({"status": "UP", "service": SERVICE_NAME, "version": SERVICE_VERSION,
                          "facility_count": facility_count})

    async def openapi(request: Request) -> Response:
        return Response(orjson.dumps(openapi_document(max_page_size, max_batch_codes)),
                        media_type="application/json")

    async def bad_parameter(request: Request, exc: Exception) -> Response:
        return _envelope(None, status_code=400, code=BAD_PARAMETER_CODE, msg=f"参数错误: {exc}")

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return _envelope(None, status_code=status, code=NOT_FOUND_CODE if status == 404 else status * 100,
                         msg="接口不存在" if status == 404 else "请求错误")

    app = Starlette(
        routes=[
            Route("/api/v1/facilities", facilities, methods=["GET"]),
            Route("/api/v1/facilities/batch", batch, methods=["GET"]),
            Route("/api/v1/health", health, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        exception_handlers={BadParameter: bad_parameter, HTTPException: http_error},
    )
    return MockControl(app)


# --- OpenAPI 3.0 --------------------------------------------------------------------------------------------
def _query(name: str, description: str, schema: dict[str, Any], *, required: bool = False,
           example: Any = None) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": required,
                                 "description": description, "schema": schema}
    if example is not None:
        parameter["example"] = example
    return parameter


def _envelope_schema(data_ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["code", "msg", "data"],
            "properties": {
                "code": {"type": "integer", "description": "0 表示成功"},
                "msg": {"type": "string"},
                "data": {"$ref": data_ref},
            },
        }}},
    }


_ERROR_RESPONSE = {"description": "参数错误", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/ErrorEnvelope"}}}}
_DECIMAL = {"type": "string", "format": "decimal", "pattern": r"^-?\d+(\.\d+)?$"}
_LOCAL_TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$",
               "description": "本地时间 (UTC+8), 无时区", "example": "2026-10-01 12:00:00"}


def _schemas() -> dict[str, Any]:
    state_enum = list(STATUS_BY_STATE)
    return {
        "Facility": {
            "type": "object",
            "required": ["facility_code", "type_code", "type_name", "facility_name", "state", "district_code",
                         "district_name", "grid_code", "road_name", "gcj_lng", "gcj_lat", "dept_name",
                         "owner_name", "owner_credit_code", "maintainer_name", "maintainer_credit_code",
                         "data_source", "update_time", "attrs", "latest"],
            "properties": {
                "facility_code": {"type": "string", "description": "部件标识码 (16 位)",
                                  "pattern": r"^\d{16}$"},
                "type_code": {"type": "string", "description": "部件小类代码", "pattern": r"^\d{4}$"},
                "type_name": {"type": "string", "description": "部件小类名称"},
                "facility_name": {"type": "string"},
                "state": {"type": "string", "enum": state_enum, "description": "部件状态"},
                "district_code": {"type": "string", "pattern": r"^\d{6}$"},
                "district_name": {"type": "string"},
                "grid_code": {"type": "string", "description": "单元网格代码 (15 位)",
                              "pattern": r"^\d{15}$"},
                "road_name": {"type": "string"},
                "gcj_lng": {"type": "number", "format": "double", "description": "经度 (GCJ-02)"},
                "gcj_lat": {"type": "number", "format": "double", "description": "纬度 (GCJ-02)"},
                "dept_name": {"type": "string", "description": "主管部门"},
                "owner_name": {"type": "string", "description": "权属单位"},
                "owner_credit_code": {"type": "string", "description": "权属单位统一社会信用代码"},
                "maintainer_name": {"type": "string", "description": "养护单位"},
                "maintainer_credit_code": {"type": "string", "description": "养护单位统一社会信用代码"},
                "data_source": {"type": "string", "description": "数据来源"},
                "update_time": _LOCAL_TIME,
                "attrs": {"$ref": "#/components/schemas/FacilityAttrs"},
                "latest": {"$ref": "#/components/schemas/FacilityLatest"},
            },
        },
        "FacilityAttrs": {
            "type": "object",
            "description": "类别属性, 按部件小类出现其中一部分",
            "properties": {
                "material": {"type": "string", "description": "井盖材质"},
                "shape": {"type": "string", "description": "井盖形状"},
                "diameter_mm": {"type": "integer", "description": "井盖直径 mm"},
                "hydrant_type": {"type": "string", "description": "消火栓类型"},
                "outlet_diameter_mm": {"type": "integer", "description": "出水口径 mm"},
                "pipe_diameter_mm": {"type": "integer", "description": "管径 mm"},
                "warning_depth_cm": {"type": "number", "description": "积水警戒深度 cm"},
                "sampling_point": {"type": "string", "enum": ["出厂", "末梢"],
                                   "description": "水质采样点 (出厂水/末梢水的余氯要求不同)"},
            },
        },
        "FacilityLatest": {
            "type": "object",
            "nullable": True,
            "description": "最新监测值 (十进制字符串); 无监测的设施为 null",
            "required": ["reading_time"],
            "properties": {
                "pressure_kpa": {**_DECIMAL, "description": "压力 kPa"},
                "flow_m3h": {**_DECIMAL, "description": "瞬时流量 m³/h"},
                "turbidity_ntu": {**_DECIMAL, "description": "浊度 NTU"},
                "ph": {**_DECIMAL, "description": "pH"},
                "residual_chlorine_mgl": {**_DECIMAL, "description": "余氯 mg/L"},
                "ponding_depth_cm": {**_DECIMAL, "description": "积水深度 cm"},
                "water_level_m": {**_DECIMAL, "description": "水位 m"},
                "rainfall_mm": {**_DECIMAL, "description": "降雨量 mm"},
                "reading_time": _LOCAL_TIME,
            },
        },
        "FacilityPage": {
            "type": "object",
            "required": ["page", "size", "total", "records"],
            "properties": {
                "page": {"type": "integer"},
                "size": {"type": "integer"},
                "total": {"type": "integer"},
                "records": {"type": "array", "items": {"$ref": "#/components/schemas/Facility"}},
            },
        },
        "FacilityBatch": {
            "type": "object",
            "required": ["total", "records"],
            "properties": {
                "total": {"type": "integer"},
                "records": {"type": "array", "items": {"$ref": "#/components/schemas/Facility"}},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "service", "version", "facility_count"],
            "properties": {
                "status": {"type": "string", "enum": ["UP", "DOWN"]},
                "service": {"type": "string"},
                "version": {"type": "string"},
                "facility_count": {"type": "integer"},
            },
        },
        "ErrorEnvelope": {
            "type": "object",
            "required": ["code", "msg", "data"],
            "properties": {
                "code": {"type": "integer", "description": "非 0 错误码, 40001 参数错误"},
                "msg": {"type": "string"},
                "data": {"type": "object", "nullable": True},
            },
        },
    }


def _facility_parameters(max_page_size: int) -> list[dict[str, Any]]:
    return [
        _query("district_codes", "区县代码, 逗号分隔", {"type": "string"}, example="370811,370812"),
        _query("grid_code", "单元网格代码 (15 位)", {"type": "string", "pattern": r"^\d{15}$"}),
        _query("type_codes", "部件小类代码, 逗号分隔", {"type": "string"}, example="0101,0113"),
        _query("state", f"部件状态, 逗号分隔 ({'/'.join(STATUS_BY_STATE)})", {"type": "string"},
               example="完好,破损"),
        _query("bbox", "GCJ-02 范围 minlng,minlat,maxlng,maxlat", {"type": "string"}),
        _query("center", "GCJ-02 中心点 lng,lat (与 radius 同时使用)", {"type": "string"}),
        _query("radius", "半径 (米)", {"type": "number"}),
        _query("page", "页码, 从 1 开始", {"type": "integer", "minimum": 1, "default": 1}),
        _query("size", "每页条数", {"type": "integer", "minimum": 1, "maximum": max_page_size,
                                "default": DEFAULT_PAGE_SIZE}),
    ]


def openapi_document(
    max_page_size: int = MAX_PAGE_SIZE, max_batch_codes: int = MAX_BATCH_CODES,
) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": f"{DEPARTMENT_NAMES[DEPARTMENT]} 供排水设施服务", "version": SERVICE_VERSION},
        "paths": {
            "/api/v1/facilities": {"get": {
                "operationId": "listFacilities",
                "summary": "分页查询供排水设施 (按编码升序)",
                "parameters": _facility_parameters(max_page_size),
                "responses": {"200": _envelope_schema("#/components/schemas/FacilityPage", "设施分页"),
                              "400": _ERROR_RESPONSE},
            }},
            "/api/v1/facilities/batch": {"get": {
                "operationId": "batchFacilities",
                "summary": "按编码批量查询设施",
                "parameters": [_query("codes", f"部件标识码, 逗号分隔, 最多 {max_batch_codes} 个",
                                      {"type": "string"}, required=True)],
                "responses": {"200": _envelope_schema("#/components/schemas/FacilityBatch", "设施列表"),
                              "400": _ERROR_RESPONSE},
            }},
            "/api/v1/health": {"get": {
                "operationId": "health",
                "summary": "服务健康检查",
                "responses": {"200": _envelope_schema("#/components/schemas/Health", "服务状态")},
            }},
        },
        "components": {"schemas": _schemas()},
    }
