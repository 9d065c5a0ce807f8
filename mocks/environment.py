"""Mock 生态环境局 air-quality monitoring system: a legacy ASMX-style XML web service.

Dialect (all GET, answers ``text/xml; charset=utf-8`` in the ``http://tempuri.org/`` namespace):

- ``/services/AirQuality.asmx/GetStations`` — search, 1-based ``pageIndex`` / ``pageSize`` (at most
  ``max_page_size``), ``hours`` of hourly history (0..``MAX_HOURS``, default 24) and optional filters, each
  comma-separated: ``regionCodes``, ``gridCode``, ``classCodes``, ``statusList`` (正常/故障/停运/丢失/占用/
  撤销), ``bbox`` = ``minLng,minLat,maxLng,maxLat`` and ``near`` = ``lng,lat,radiusM`` in CGCS2000. An empty
  parameter means no filter. Answers ``<StationResult><Total/><PageIndex/><PageSize/><Stations><Station>…``.
- ``/services/AirQuality.asmx/GetStationsByCodes?codes=a,b,c&hours=24`` — batch fetch (at most
  ``MAX_CODES_PER_CALL``); unknown codes are left out; same answer shape with ``Total`` = stations found.
- ``/services/AirQuality.asmx/Ping`` — ``<string>OK</string>``.

Like the real thing it speaks PascalCase element names, numbers as text, naive local times
``2026/10/01 08:00:00`` (Asia/Shanghai), CGCS2000 coordinates (equal to WGS-84 at map scale), and "-" for a
value it does not have. A bad parameter gets HTTP 500 with a SOAP fault body, as ASMX services do; the gateway
reports that as UPSTREAM_UNAVAILABLE.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mocks.city import (
    CHINA_TZ,
    DEPARTMENT_NAMES,
    BaseComponent,
    Inventory,
    air_quality,
    organizations,
    reading_time,
)
from mocks.control import MockControl
from schema.codes import is_component_id, is_grid_code, is_region_code, load_catalogue

DEPARTMENT = "environment"
SERVICE_PATH = "/services/AirQuality.asmx"
NAMESPACE = "http://tempuri.org/"
XML_CONTENT_TYPE = "text/xml; charset=utf-8"
TIME_FORMAT = "%Y/%m/%d %H:%M:%S"
MISSING_VALUE = "-"
DEFAULT_PAGE_SIZE = 20
DEFAULT_MAX_PAGE_SIZE = 200
DEFAULT_HOURS = 24
MAX_HOURS = 168
MAX_CODES_PER_CALL = 100
POLLUTANT_TAGS = (("AQI", "aqi"), ("PM25", "pm25"), ("PM10", "pm10"), ("SO2", "so2"), ("NO2", "no2"),
                  ("O3", "o3"), ("CO", "co"))

# Canonical status -> the department's word; 丢失 is an older spelling of 停运 it still accepts in filters.
STATUS_WORDS: dict[str, str] = {
    "INTACT": "正常", "DAMAGED": "故障", "MISSING": "停运", "OCCUPIED": "占用", "RETIRED": "撤销",
}
STATUS_OF_WORD: dict[str, str] = {
    **{word: status for status, word in STATUS_WORDS.items()}, "丢失": "MISSING",
}

# HJ 633-2012 AQI bands (upper bound inclusive) and their 空气质量级别 words.
AQI_BANDS = ((50, "优"), (100, "良"), (150, "轻度污染"), (200, "中度污染"), (300, "重度污染"))
AQI_WORST_BAND = "严重污染"


class ParameterError(ValueError):
    """A request parameter the service rejects (answered as a SOAP fault)."""


# --- parameter parsing --------------------------------------------------------------------------
def _text_param(request: Request, name: str) -> str:
    return request.query_params.get(name, "").strip()


def _list_param(request: Request, name: str) -> list[str] | None:
    raw = _text_param(request, name)
    if not raw:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = _text_param(request, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ParameterError(f"System.FormatException: 参数 {name} 的值 '{raw}' 不是有效的整数。") from exc
    if not low <= value <= high:
        raise ParameterError(f"System.ArgumentOutOfRangeException: 参数 {name} 必须在 {low} 到 {high} 之间。")
    return value


def _floats_param(request: Request, name: str, count: int) -> list[float] | None:
    items = _list_param(request, name)
    if items is None:
        return None
    try:
        values = [float(item) for item in items]
    except ValueError as exc:
        raise ParameterError(f"System.FormatException: 参数 {name} 含有无效的数字。") from exc
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise ParameterError(f"System.ArgumentException: 参数 {name} 需要 {count} 个数字。")
    return values


def _checked(items: list[str] | None, name: str, valid: Callable[[str], bool]) -> list[str] | None:
    if items is not None and not all(valid(item) for item in items):
        raise ParameterError(f"System.ArgumentException: 参数 {name} 含有无效的编码。")
    return items


def _is_class_code(value: str) -> bool:
    return len(value) == 4 and value.isdigit()


@dataclass(frozen=True, slots=True)
class StationFilter:
    """The search filters of GetStations, geometry already in WGS-84 (CGCS2000 passes through)."""

    regions: list[str] | None
    grid_code: str | None
    class_codes: list[str] | None
    statuses: list[str] | None
    bbox: tuple[float, float, float, float] | None
    near: tuple[float, float, float] | None


def _parse_filter(request: Request) -> StationFilter:
    grid_code = _text_param(request, "gridCode") or None
    if grid_code is not None and not is_grid_code(grid_code):
        raise ParameterError("System.ArgumentException: 参数 gridCode 不是有效的单元网格编码。")
    status_words = _list_param(request, "statusList")
    if status_words is not None and not all(word in STATUS_OF_WORD for word in status_words):
        allowed = "、".join(STATUS_OF_WORD)
        raise ParameterError(f"System.ArgumentException: 参数 statusList 只能取 {allowed}。")
    bbox = _floats_param(request, "bbox", 4)
    if bbox is not None and (bbox[0] > bbox[2] or bbox[1] > bbox[3]):
        raise ParameterError("System.ArgumentException: 参数 bbox 的最小值大于最大值。")
    near = _floats_param(request, "near", 3)
    if near is not None and near[2] <= 0:
        raise ParameterError("System.ArgumentException: 参数 near 的半径必须大于 0。")
    return StationFilter(
        regions=_checked(_list_param(request, "regionCodes"), "regionCodes", is_region_code),
        grid_code=grid_code,
        class_codes=_checked(_list_param(request, "classCodes"), "classCodes", _is_class_code),
        statuses=None if status_words is None else [STATUS_OF_WORD[word] for word in status_words],
        bbox=None if bbox is None else (bbox[0], bbox[1], bbox[2], bbox[3]),
        near=None if near is None else (near[0], near[1], near[2]),
    )


# --- rendering ----------------------------------------------------------------------------------
def _local_time(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).strftime(TIME_FORMAT)


def _number(value: float | None) -> str:
    if value is None:
        return MISSING_VALUE
    return str(int(value)) if value == int(value) else repr(value)


def _element(tag: str, text: str) -> str:
    return f"<{tag}>{escape(text)}</{tag}>" if text else f"<{tag} />"


def _quality_level(aqi: float) -> str:
    for upper, word in AQI_BANDS:
        if aqi <= upper:
            return word
    return AQI_WORST_BAND


def _readings(values: dict[str, float]) -> str:
    return "".join(_element(tag, _number(values.get(key))) for tag, key in POLLUTANT_TAGS)


def _hour(component: BaseComponent, latest_at: datetime, hours_ago: int) -> str:
    return (f"<Hour Time={quoteattr(_local_time(latest_at - timedelta(hours=hours_ago)))}>"
            f"{_readings(air_quality(component.seed, hours_ago))}</Hour>")


class StationRenderer:
    """Turns inventory stations into the department's ``<Station>`` elements.

    A station derives from the component and the inventory's anchor alone, both fixed for the life of the app, so
    its fields and each of its hourly readings are rendered once and kept (strings, immutable), keyed by station id
    and hour; a request only joins them."""

    def __init__(self, inventory: Inventory) -> None:
        self.anchor = inventory.anchor
        self.class_names = {code: entry.name for code, entry in load_catalogue().components.items()}
        self.authority = DEPARTMENT_NAMES[DEPARTMENT]
        self._heads: dict[str, str] = {}
        self._hours: dict[str, list[str]] = {}

    def _head(self, component: BaseComponent) -> str:
        owner, maintainer = organizations(DEPARTMENT, component)
        latest_at = reading_time(component, self.anchor)
        latest = air_quality(component.seed, 0)
        fields = (
            ("StationCode", component.id), ("StationName", component.name),
            ("TypeCode", component.class_code), ("TypeName", self.class_names.get(component.class_code, "")),
            ("RegionCode", component.region_code), ("GridCode", component.grid_code),
            ("Longitude", f"{component.lng:.7f}"), ("Latitude", f"{component.lat:.7f}"),
            ("Status", STATUS_WORDS[component.status]), ("Authority", self.authority),
            ("OwnerName", owner.name), ("OwnerUSCC", owner.credit_code),
            ("MaintainerName", maintainer.name), ("MaintainerUSCC", maintainer.credit_code),
            ("UpdateTime", _local_time(component.updated_at)), ("DataTime", _local_time(latest_at)),
        )
        return (
            "<Station>"
            + "".join(_element(tag, text) for tag, text in fields)
            + _readings(latest)
            + _element("Quality", _quality_level(latest["aqi"]))
        )

    def station(self, component: BaseComponent, hours: int) -> str:
        head = self._heads.get(component.id)
        if head is None:
            head = self._heads[component.id] = self._head(component)
        rendered = self._hours.setdefault(component.id, [])
        if len(rendered) < hours:
            latest_at = reading_time(component, self.anchor)
            rendered.extend(_hour(component, latest_at, h) for h in range(len(rendered), hours))
        return f"{head}<HourlyData>{''.join(rendered[:hours])}</HourlyData></Station>"

    def result(self, stations: Iterable[BaseComponent], total: int, hours: int, paging: str = "") -> bytes:
        body = "".join(self.station(component, hours) for component in stations)
        return (
            f'<?xml version="1.0" encoding="utf-8"?><StationResult xmlns="{NAMESPACE}">'
            f"<Total>{total}</Total>{paging}<Stations>{body}</Stations></StationResult>"
        ).encode()


def _xml_response(body: bytes, status_code: int = 200) -> Response:
    return Response(body, status_code=status_code, media_type=XML_CONTENT_TYPE)


def _soap_fault(message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
        f"<faultcode>soap:Client</faultcode><faultstring>{escape(message)}</faultstring><detail />"
        "</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()
    return _xml_response(body, status_code=500)


# --- the service --------------------------------------------------------------------------------
def create_app(inventory: Inventory, *, max_page_size: int = DEFAULT_MAX_PAGE_SIZE) -> MockControl:
    """The environment department's XML service over its share of ``inventory``."""
    if max_page_size < 1:
        raise ValueError("max_page_size must be positive")
    renderer = StationRenderer(inventory)

    async def get_stations(request: Request) -> Response:
        try:
            station_filter = _parse_filter(request)
            page_index = _int_param(request, "pageIndex", 1, 1, 10**9)
            page_size = _int_param(request, "pageSize", DEFAULT_PAGE_SIZE, 1, max_page_size)
            hours = _int_param(request, "hours", DEFAULT_HOURS, 0, MAX_HOURS)
        except ParameterError as exc:
            return _soap_fault(str(exc))
        selection = inventory.select(
            DEPARTMENT, regions=station_filter.regions, class_codes=station_filter.class_codes,
            grid_code=station_filter.grid_code, statuses=station_filter.statuses,
            bbox=station_filter.bbox, near=station_filter.near,
        )
        stations = selection.slice((page_index - 1) * page_size, page_size)
        paging = f"<PageIndex>{page_index}</PageIndex><PageSize>{page_size}</PageSize>"
        return _xml_response(renderer.result(stations, selection.total, hours, paging))

    async def get_stations_by_codes(request: Request) -> Response:
        try:
            codes = _checked(_list_param(request, "codes"), "codes", is_component_id) or []
            if len(codes) > MAX_CODES_PER_CALL:
                raise ParameterError(
                    f"System.ArgumentException: 参数 codes 最多 {MAX_CODES_PER_CALL} 个编码。")
            hours = _int_param(request, "hours", DEFAULT_HOURS, 0, MAX_HOURS)
        except ParameterError as exc:
            return _soap_fault(str(exc))
        found = {
            component.id: component for component in map(inventory.get, codes)
            if component is not None and component.department == DEPARTMENT
        }
        stations = [found[code] for code in sorted(found)]
        return _xml_response(renderer.result(stations, len(stations), hours))

    async def ping(request: Request) -> Response:
        body = f'<?xml version="1.0" encoding="utf-8"?><string xmlns="{NAMESPACE}">OK</string>'
        return _xml_response(body.encode())

    app = Starlette(routes=[
        Route(f"{SERVICE_PATH}/GetStations", get_stations, methods=["GET"]),
        Route(f"{SERVICE_PATH}/GetStationsByCodes", get_stations_by_codes, methods=["GET"]),
        Route(f"{SERVICE_PATH}/Ping", ping, methods=["GET"]),
    ])
    return MockControl(app)
