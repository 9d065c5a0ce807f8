"""Mock 数字城管 case system (济宁市城市管理局): cases (案卷) and monitoring alarms in its JSON dialect.

Dialect, as many deployed 数字城管 systems speak it: pinyin-abbreviation field names, Chinese vocabularies,
naive local times ("2026-10-01 08:00:00", Asia/Shanghai), CGCS2000 coordinates, 1-based
``pageNo``/``pageSize`` and the envelope ``{"success": true, "total": N, "rows": [...]}``; errors are
``{"success": false, "code": 400, "msg": ...}``.

- ``GET /api/cases``: sqbm, wgbm, ajzt, wtly, bjbsm (comma lists), sbsjq/sbsjz (inclusive report-time range),
  bbox=minLng,minLat,maxLng,maxLat, near=lng,lat,radiusMetres, pageNo, pageSize; ascending ajbh. Classes: the 部件
  and 事件 catalogues reuse 小类 numbers, so ``bjxlbm`` (部件小类) and ``sjxlbm`` (事件小类) name a class with its
  catalogue; given together a case matches either. ``xlbm`` (小类 of either catalogue) and ``ajlx`` (部件/事件) are
  the older, code-only filter, kept as deployed systems have it.
- ``GET /api/cases/batch?ajbh=a,b``: up to ``MAX_BATCH_IDS`` cases by 案卷编号; unknown ones are absent.
- ``GET /api/alarms``: sqbm, bjbsm, bjjb, jczb (comma lists), bjsjq/bjsjz, pageNo, pageSize; ascending bjid.
  Values are in the department's units (pressure in kPa, PM10 in "μg/m3", 施工噪声 in dB(A), 甲烷浓度 in %LEL);
  jczb also takes the older word 可燃气体浓度 for 甲烷浓度.
- ``GET /api/stats?sqbm=370811,370812&sbsjq=...&sbsjz=...``: evaluation counts (综合评价, definitions in
  ``mocks.citymgmt_stats``) per district: one row per asked district (all served ones without sqbm), ascending,
  zeros where nothing matched; cases by 上报时间 and alarms by 报警时间 within the inclusive window.
- ``GET /api/heartbeat`` and ``GET /openapi.json``.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mocks.city import CHINA_TZ, DISTRICTS, Inventory, distance_m
from mocks.citymgmt_data import Alert, Case, generate_alerts, generate_cases
from mocks.citymgmt_stats import CASE_COLUMNS, DistrictStats, district_stats
from mocks.control import MockControl

# Coordinates in CGCS2000, which equals WGS-84 at map scale: the ground truth is sent and read as it is.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 500
MAX_BATCH_IDS = 100
SYSTEM_NAME = "济宁市数字化城市管理信息系统"
SYSTEM_VERSION = "3.2.1"

STATUS_NAMES = {
    "PENDING_ACCEPTANCE": "待受理", "REGISTERED": "立案未移交", "DISPATCHED": "立案派遣",
    "IN_PROGRESS": "处理中", "VERIFYING": "核查结案", "CLOSED": "结案", "VOIDED": "作废", "POSTPONED": "缓办",
    "SUPERVISED": "督查",
}
SOURCE_NAMES = {
    "INSPECTOR": "监督员上报", "PUBLIC_REPORT": "公众举报", "HOTLINE_12345": "12345热线", "SENSOR": "传感器",
}
KIND_NAMES = {"COMPONENT": "部件", "EVENT": "事件"}
LEVEL_NAMES = {"RED": "一级", "ORANGE": "二级", "YELLOW": "三级", "BLUE": "四级"}
METRIC_NAMES = {
    "pressure": "管网压力", "turbidity": "浊度", "ph": "pH值", "residual_chlorine": "余氯",
    "ponding_depth": "积水深度", "aqi": "空气质量指数", "pm10": "PM10", "noise": "施工噪声",
    "methane": "甲烷浓度",
}
# Older words the jczb filter still takes (deployed systems name gas alarms either way); rows use METRIC_NAMES.
METRIC_ALIASES = {"可燃气体浓度": "methane"}
# canonical unit -> (the department's unit, factor from canonical to it)
DIALECT_UNITS = {
    "MPa": ("kPa", 1000.0), "NTU": ("NTU", 1.0), "pH": ("", 1.0), "mg/L": ("mg/L", 1.0), "cm": ("cm", 1.0),
    "AQI": ("", 1.0), "µg/m³": ("μg/m3", 1.0), "dB(A)": ("dB(A)", 1.0), "%LEL": ("%LEL", 1.0),
}
DIALECT_DECIMALS = 6



class Row(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def region_code(self) -> str: ...
    @property
    def component_id(self) -> str | None: ...


T = TypeVar("T", bound=Row)
Predicate = Callable[[T], bool]


class ParamError(ValueError):
    """A request parameter the department rejects with HTTP 400."""


# --- rendering ----------------------------------------------------------------------------------------------
def _local_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(CHINA_TZ).strftime(TIME_FORMAT)


def render_case(case: Case) -> dict[str, Any]:
    lng, lat = case.lng, case.lat
    return {
        "ajbh": case.id, "ajlx": KIND_NAMES[case.kind], "dlbm": case.class_code[:2], "xlbm": case.class_code,
        "wtly": SOURCE_NAMES[case.source], "ajzt": STATUS_NAMES[case.status], "wtms": case.description,
        "dz": case.address, "zbx": lng, "zby": lat, "sqbm": case.region_code, "wgbm": case.grid_code,
        "bjbsm": case.component_id or "", "zrbm": case.handling_department,
        "sbsj": _local_time(case.reported_at), "clsx": _local_time(case.deadline),
        "jasj": _local_time(case.closed_at),
        "sbr": case.reporter_name or "", "lxdh": case.reporter_phone or "",
        "czwcsj": _local_time(case.handled_at), "fgcs": case.rework_count, "sfyq": int(case.extended),
    }


def render_alert(alert: Alert) -> dict[str, Any]:
    unit, factor = DIALECT_UNITS[alert.unit]
    return {
        "bjid": alert.id, "bjbsm": alert.component_id, "jczb": METRIC_NAMES[alert.metric],
        "jcz": round(alert.value * factor, DIALECT_DECIMALS), "dw": unit,
        "yz": round(alert.threshold * factor, DIALECT_DECIMALS), "bjjb": LEVEL_NAMES[alert.level],
        "bjsj": _local_time(alert.raised_at), "ssbm": alert.department_id, "sqbm": alert.region_code,
    }


HOURS_DECIMALS = 6


def render_stats(stats: DistrictStats) -> dict[str, Any]:
    """One district's counts in the department's words; lists hold only non-zero entries."""
    return {
        "sqbm": stats.region_code, **{column: stats.columns[column] for column in CASE_COLUMNS},
        "czsc": round(stats.handling_seconds / 3600, HOURS_DECIMALS),
        "ajlb": [{"ajlx": KIND_NAMES[kind], "xlbm": code, "sl": count}
                 for (kind, code), count in sorted(stats.by_class.items()) if count],
        "ajzt": [{"ajzt": name, "sl": stats.by_status[status]} for status, name in STATUS_NAMES.items()
                 if stats.by_status[status]],
        "bjjb": [{"bjjb": name, "sl": stats.alerts_by_level[level]} for level, name in LEVEL_NAMES.items()
                 if stats.alerts_by_level[level]],
    }


# --- storage ------------------------------------------------------------------------------------------------
class Table(Generic[T]):
    """Rows in ascending id order, pre-rendered, with the indexes the common filters need."""

    def __init__(self, records: list[T], render: Callable[[T], dict[str, Any]]) -> None:
        self.records: list[T] = records
        self.rendered = [orjson.dumps(render(record)) for record in records]
        self.position = {record.id: index for index, record in enumerate(records)}
        self.by_region: dict[str, list[int]] = {}
        self.by_component: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            self.by_region.setdefault(record.region_code, []).append(index)
            if record.component_id:
                self.by_component.setdefault(record.component_id, []).append(index)

    def select(self, regions: set[str] | None, component_ids: set[str] | None,
               predicates: list[Predicate[T]]) -> Sequence[int]:
        """Row indexes matching, ascending; no per-row work when only whole-table region filters are given."""
        rows: Sequence[int]
        if component_ids is not None:
            rows = sorted({index for cid in component_ids for index in self.by_component.get(cid, ())})
            if regions is not None:
                in_regions: Predicate[T] = lambda record: record.region_code in regions  # noqa: E731
                predicates = [*predicates, in_regions]
        elif regions is not None and not set(self.by_region) <= regions:
            rows = list(heapq.merge(*(self.by_region.get(region, []) for region in sorted(regions))))
        else:
            rows = range(len(self.records))
        if predicates:
            records = self.records
            rows = [index for index in rows if all(predicate(records[index]) for predicate in predicates)]
        return rows

    def envelope(self, total: int, indexes: Iterable[int]) -> bytes:
        rows = b",".join(self.rendered[index] for index in indexes)
        return b'{"success":true,"total":%d,"rows":[%s]}' % (total, rows)


# --- parameters ---------------------------------------------------------------------------------------------
def _raw(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name, "").strip()
    return value or None


def _codes(params: Mapping[str, str], name: str, length: int) -> set[str] | None:
    raw = _raw(params, name)
    if raw is None:
        return None
    values = {value.strip() for value in raw.split(",")}
    bad = sorted(value for value in values if len(value) != length or not value.isdigit())
    if bad:
        raise ParamError(f"参数{name}格式错误: {','.join(bad)} (应为{length}位数字)")
    return values


def _vocabulary(params: Mapping[str, str], name: str, names: Mapping[str, str],
                aliases: Mapping[str, str] | None = None) -> set[str] | None:
    """Dialect words (and older alias words) -> canonical values."""
    raw = _raw(params, name)
    if raw is None:
        return None
    canonical = {**{word: value for value, word in names.items()}, **(aliases or {})}
    values = [word.strip() for word in raw.split(",")]
    unknown = [word for word in values if word not in canonical]
    if unknown:
        raise ParamError(f"参数{name}取值错误: {','.join(unknown)} (可选: {','.join(canonical)})")
    return {canonical[word] for word in values}


def _time(params: Mapping[str, str], name: str) -> datetime | None:
    raw = _raw(params, name)
    if raw is None:
        return None
    try:
        return datetime.strptime(raw, TIME_FORMAT).replace(tzinfo=CHINA_TZ)
    except ValueError:
        raise ParamError(f"参数{name}格式错误: {raw} (应为yyyy-MM-dd HH:mm:ss)") from None


def _numbers(params: Mapping[str, str], name: str, count: int, shape: str) -> list[float] | None:
    raw = _raw(params, name)
    if raw is None:
        return None
    try:
        numbers = [float(part) for part in raw.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) != count:
        raise ParamError(f"参数{name}格式错误: {raw} (应为{shape})")
    return numbers


def _bbox(params: Mapping[str, str]) -> tuple[float, float, float, float] | None:
    numbers = _numbers(params, "bbox", 4, "minLng,minLat,maxLng,maxLat")
    if numbers is None:
        return None
    min_lng, min_lat, max_lng, max_lat = numbers
    if min_lng > max_lng or min_lat > max_lat:
        raise ParamError("参数bbox错误: 最小值大于最大值")
    return min_lng, min_lat, max_lng, max_lat


def _near(params: Mapping[str, str]) -> tuple[float, float, float] | None:
    numbers = _numbers(params, "near", 3, "lng,lat,半径米")
    if numbers is None:
        return None
    if numbers[2] <= 0:
        raise ParamError("参数near错误: 半径必须大于0")
    lng, lat = numbers[0], numbers[1]
    return lng, lat, numbers[2]


def _positive_int(params: Mapping[str, str], name: str, default: int, maximum: int | None = None) -> int:
    raw = _raw(params, name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1 or (maximum is not None and int(raw) > maximum):
        limit = f"1-{maximum}" if maximum is not None else "≥1"
        raise ParamError(f"参数{name}错误: {raw} (应为{limit}的整数)")
    return int(raw)


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    size: int

    def of(self, rows: Sequence[int]) -> Sequence[int]:
        start = (self.number - 1) * self.size
        return rows[start: start + self.size]


def _page(params: Mapping[str, str]) -> Page:
    return Page(_positive_int(params, "pageNo", 1), _positive_int(params, "pageSize", DEFAULT_PAGE_SIZE,
                                                                    MAX_PAGE_SIZE))


def _time_range(params: Mapping[str, str], start: str, end: str,
                moment: Callable[[T], datetime]) -> list[Predicate[T]]:
    since, until = _time(params, start), _time(params, end)
    predicates: list[Predicate[T]] = []
    if since is not None:
        predicates.append(lambda record: moment(record) >= since)
    if until is not None:
        predicates.append(lambda record: moment(record) <= until)
    return predicates


def case_predicates(params: Mapping[str, str]) -> list[Predicate[Case]]:
    predicates: list[Predicate[Case]] = []
    grid = _codes(params, "wgbm", 15)
    if grid is not None:
        predicates.append(lambda case: case.grid_code in grid)
    classes = _codes(params, "xlbm", 4)
    if classes is not None:
        predicates.append(lambda case: case.class_code in classes)
    kinds = _vocabulary(params, "ajlx", KIND_NAMES)
    if kinds is not None:
        predicates.append(lambda case: case.kind in kinds)
    component_classes, event_classes = _codes(params, "bjxlbm", 4), _codes(params, "sjxlbm", 4)
    if component_classes is not None or event_classes is not None:
        by_kind = {"COMPONENT": component_classes or set(), "EVENT": event_classes or set()}
        predicates.append(lambda case: case.class_code in by_kind[case.kind])
    statuses = _vocabulary(params, "ajzt", STATUS_NAMES)
    if statuses is not None:
        predicates.append(lambda case: case.status in statuses)
    sources = _vocabulary(params, "wtly", SOURCE_NAMES)
    if sources is not None:
        predicates.append(lambda case: case.source in sources)
    predicates.extend(_time_range(params, "sbsjq", "sbsjz", lambda case: case.reported_at))
    box = _bbox(params)
    if box is not None:
        min_lng, min_lat, max_lng, max_lat = box
        predicates.append(lambda case: min_lng <= case.lng <= max_lng and min_lat <= case.lat <= max_lat)
    near = _near(params)
    if near is not None:
        lng, lat, radius = near
        predicates.append(lambda case: distance_m(lng, lat, case.lng, case.lat) <= radius)
    return predicates


def alert_predicates(params: Mapping[str, str]) -> list[Predicate[Alert]]:
    predicates: list[Predicate[Alert]] = []
    levels = _vocabulary(params, "bjjb", LEVEL_NAMES)
    if levels is not None:
        predicates.append(lambda alert: alert.level in levels)
    metrics = _vocabulary(params, "jczb", METRIC_NAMES, METRIC_ALIASES)
    if metrics is not None:
        predicates.append(lambda alert: alert.metric in metrics)
    predicates.extend(_time_range(params, "bjsjq", "bjsjz", lambda alert: alert.raised_at))
    return predicates


# --- responses ----------------------------------------------------------------------------------------------
def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json;charset=UTF-8")


def _error(message: str, status: int = 400) -> Response:
    return _json(orjson.dumps({"success": False, "code": status, "msg": message}), status)


def _search(table: Table[T], params: Mapping[str, str],
            predicates_of: Callable[[Mapping[str, str]], list[Predicate[T]]]) -> Response:
    try:
        page = _page(params)
        regions = _codes(params, "sqbm", 6)
        component_ids = _codes(params, "bjbsm", 16)
        predicates = predicates_of(params)
    except ParamError as exc:
        return _error(str(exc))
    rows = table.select(regions, component_ids, predicates)
    return _json(table.envelope(len(rows), page.of(rows)))


def _window(records: list[T], moments: list[datetime], since: datetime | None, until: datetime | None) -> list[T]:
    """The records whose (ascending) moment lies in [since, until]."""
    low = 0 if since is None else bisect_left(moments, since)
    high = len(records) if until is None else bisect_right(moments, until)
    return records[low:high]


def create_app(inventory: Inventory) -> MockControl:
    cases = Table(generate_cases(inventory), render_case)
    alerts = Table(generate_alerts(inventory), render_alert)
    # Both tables are in report / raise order (ids follow it), so a time window is a slice.
    case_times = [case.reported_at for case in cases.records]
    alert_times = [alert.raised_at for alert in alerts.records]
    openapi = orjson.dumps(openapi_document())
    heartbeat = orjson.dumps(
        {"success": True, "status": "UP", "system": SYSTEM_NAME, "version": SYSTEM_VERSION})

    async def list_cases(request: Request) -> Response:
        return _search(cases, request.query_params, case_predicates)

    async def cases_batch(request: Request) -> Response:
        try:
            ids = _codes(request.query_params, "ajbh", 13)
        except ParamError as exc:
            return _error(str(exc))
        if ids is None:
            return _error("参数ajbh不能为空")
        if len(ids) > MAX_BATCH_IDS:
            return _error(f"参数ajbh最多{MAX_BATCH_IDS}个案卷编号")
        found = sorted(cases.position[case_id] for case_id in ids if case_id in cases.position)
        return _json(cases.envelope(len(found), found))

    async def list_alarms(request: Request) -> Response:
        return _search(alerts, request.query_params, alert_predicates)

    async def stats(request: Request) -> Response:
        params = request.query_params
        try:
            regions = _codes(params, "sqbm", 6)
            since, until = _time(params, "sbsjq"), _time(params, "sbsjz")
        except ParamError as exc:
            return _error(str(exc))
        rows = district_stats(_window(cases.records, case_times, since, until),
                              _window(alerts.records, alert_times, since, until),
                              sorted(DISTRICTS) if regions is None else regions, since, until)
        return _json(orjson.dumps({"success": True, "total": len(rows),
                                   "rows": [render_stats(row) for row in rows]}))

    async def heartbeat_endpoint(request: Request) -> Response:
        return _json(heartbeat)

    async def openapi_endpoint(request: Request) -> Response:
        return _json(openapi)

    app = Starlette(routes=[
        Route("/api/cases", list_cases),
        Route("/api/cases/batch", cases_batch),
        Route("/api/alarms", list_alarms),
        Route("/api/stats", stats),
        Route("/api/heartbeat", heartbeat_endpoint),
        Route("/openapi.json", openapi_endpoint),
    ])
    return MockControl(app)


# --- OpenAPI 3.0 --------------------------------------------------------------------------------------------
def _string(description: str, *, nullable: bool = False, enum: Iterable[str] | None = None,
            example: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": description}
    if nullable:
        schema["nullable"] = True
    if enum is not None:
        schema["enum"] = list(enum)
    if example is not None:
        schema["example"] = example
    return schema


def _number(description: str) -> dict[str, Any]:
    return {"type": "number", "format": "double", "description": description}


def _query(name: str, description: str, example: str | None = None, schema: dict[str, Any] | None = None,
           required: bool = False) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": required,
                                 "description": description, "schema": schema or {"type": "string"}}
    if example is not None:
        parameter["example"] = example
    return parameter


def _list_of(what: str, example: str) -> str:
    return f"{what}, comma-separated (逗号分隔); empty = no filter. e.g. {example}"


PAGING_PARAMETERS = [
    _query("pageNo", "1-based page number (页码)", schema={"type": "integer", "minimum": 1, "default": 1}),
    _query("pageSize", "page size (每页条数)",
           schema={"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE}),
]
TIME_EXAMPLE = "2026-10-01 08:00:00"


def _case_schema() -> dict[str, Any]:
    time_help = "local time Asia/Shanghai, yyyy-MM-dd HH:mm:ss"
    return {
        "type": "object",
        "required": ["ajbh", "ajlx", "dlbm", "xlbm", "wtly", "ajzt", "wtms", "dz", "zbx", "zby", "sqbm",
                     "wgbm", "bjbsm", "zrbm", "sbsj", "clsx", "jasj", "sbr", "lxdh", "czwcsj", "fgcs", "sfyq"],
        "properties": {
            "ajbh": _string("案卷编号: 13 digits, report date YYYYMMDD + daily serial",
                            example="2026110100001"),
            "ajlx": _string("案卷类型", enum=KIND_NAMES.values()),
            "dlbm": _string("大类编码 (2 digits)", example="01"),
            "xlbm": _string("小类编码 (4 digits): 部件小类 for 部件 cases, 事件小类 for 事件 cases",
                            example="0101"),
            "wtly": _string("问题来源", enum=SOURCE_NAMES.values()),
            "ajzt": _string("案卷状态", enum=STATUS_NAMES.values()),
            "wtms": _string("问题描述"),
            "dz": _string("地址"),
            "zbx": _number("经度 longitude, CGCS2000"),
            "zby": _number("纬度 latitude, CGCS2000"),
            "sqbm": _string("所属区划编码 (GB/T 2260, 6 digits)", example="370811"),
            "wgbm": _string("单元网格编码 (15 digits)", example="370811001010001"),
            "bjbsm": _string("部件标识码 (16 digits) of the component concerned; empty for 事件 cases"),
            "zrbm": _string("责任部门 (handling department)"),
            "sbsj": _string(f"上报时间, {time_help}", example=TIME_EXAMPLE),
            "clsx": _string(f"处置时限 (deadline), {time_help}; null before 立案", nullable=True),
            "jasj": _string(f"结案时间, {time_help}; null unless 结案", nullable=True),
            "sbr": _string("上报人 (public reports and 12345 only, else empty)"),
            "lxdh": _string("联系电话 (11-digit mobile, public reports and 12345 only, else empty)"),
            "czwcsj": _string(f"处置完成时间 (the department's feedback that 处置 is finished), {time_help}; "
                              "set for 核查结案 and 结案, else null", nullable=True),
            "fgcs": _integer("返工次数: times 核查 sent the case back to the department for rework"),
            "sfyq": {"type": "integer", "enum": [0, 1],
                     "description": "是否延期: 1 if an extension of the 处置时限 was approved (clsx includes it)"},
        },
    }


def _integer(description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "description": description}


def _stats_schemas() -> dict[str, dict[str, Any]]:
    def count_list(key: str, key_schema: dict[str, Any], what: str) -> dict[str, Any]:
        return {"type": "array", "description": f"{what}; only non-zero entries", "items": {
            "type": "object", "required": [key, "sl"],
            "properties": {key: key_schema, "sl": _integer("数量")}}}

    counts = {
        "ajzs": "案卷总数: cases reported in the window, every status",
        "yczs": "应处置数: status 立案派遣, 处理中, 核查结案, 结案 or 督查",
        "czs": "已处置数: 应处置 cases in 核查结案 or 结案",
        "aqczs": "按期处置数: 已处置 cases whose czwcsj <= clsx",
        "yjas": "应结案数: 应处置 plus 立案未移交 (registered, neither voided nor postponed)",
        "jas": "结案数: status 结案",
        "aqjas": "按期结案数: 结案 cases whose jasj <= clsx",
        "fgs": "返工数: 应结案 cases sent back from 核查 at least once (fgcs >= 1)",
        "yqs": "延期数: 应处置 cases with an approved extension (sfyq = 1)",
    }
    return {"StatsRow": {
        "type": "object",
        "description": "Counts of one district (rates are not given: derive them from the counts, e.g. "
                       "按期结案率 = aqjas / yjas, 返工率 = fgs / yjas, 处置率 = czs / yczs)",
        "required": ["sqbm", *counts, "czsc", "ajlb", "ajzt", "bjjb"],
        "properties": {
            "sqbm": _string("区划编码 (6 digits)", example="370811"),
            **{key: _integer(description) for key, description in counts.items()},
            "czsc": {"type": "number", "format": "double", "minimum": 0,
                     "description": "处置时长合计 in hours: sum over 结案 cases of jasj - sbsj "
                                    "(平均处置时长 = czsc / jas)"},
            "ajlb": _class_counts(),
            "ajzt": count_list("ajzt", _string("案卷状态", enum=STATUS_NAMES.values()), "案卷按状态"),
            "bjjb": count_list("bjjb", _string("报警级别", enum=LEVEL_NAMES.values()),
                               "报警按级别 (alarms raised in the window)"),
        },
    }, "StatsPage": _page_schema("#/components/schemas/StatsRow")}


def _class_counts() -> dict[str, Any]:
    return {"type": "array",
            "description": "案卷按类别 (案卷类型 + 小类: the 部件 and 事件 catalogues reuse 小类 numbers); "
                           "only non-zero entries",
            "items": {"type": "object", "required": ["ajlx", "xlbm", "sl"], "properties": {
                "ajlx": _string("案卷类型", enum=KIND_NAMES.values()),
                "xlbm": _string("小类编码 (4 digits) in the catalogue of ajlx", example="0101"),
                "sl": _integer("数量")}}}


def _alarm_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["bjid", "bjbsm", "jczb", "jcz", "dw", "yz", "bjjb", "bjsj", "ssbm", "sqbm"],
        "properties": {
            "bjid": _string("报警编号", example="BJ20261031000001"),
            "bjbsm": _string("部件标识码 of the monitored component (16 digits)"),
            "jczb": _string("监测指标", enum=METRIC_NAMES.values()),
            "jcz": _number("监测值 in unit dw"),
            "dw": _string("单位 (kPa for 管网压力; empty for pH值 and 空气质量指数)",
                          enum=sorted({unit for unit, _ in DIALECT_UNITS.values()})),
            "yz": _number("阈值 (the limit of the alarm level reached), in unit dw"),
            "bjjb": _string("报警级别 (一级 most severe)", enum=LEVEL_NAMES.values()),
            "bjsj": _string("报警时间 (time of the reading), local time Asia/Shanghai", example=TIME_EXAMPLE),
            "ssbm": _string("所属部门 id of the department owning the component", example="water"),
            "sqbm": _string("所属区划编码 (6 digits)", example="370811"),
        },
    }


def _page_schema(row_ref: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", "total", "rows"],
        "properties": {
            "success": {"type": "boolean"},
            "total": {"type": "integer", "description": "matches of the whole query, not just this page"},
            "rows": {"type": "array", "items": {"$ref": row_ref}},
        },
    }


def _responses(page_ref: str) -> dict[str, Any]:
    def content(ref: str) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": ref}}}

    return {
        "200": {"description": "OK", "content": content(page_ref)},
        "400": {"description": "bad parameter (参数错误)", "content": content("#/components/schemas/Error")},
    }


def openapi_document() -> dict[str, Any]:
    regions = ",".join(sorted(DISTRICTS))
    case_filters = [
        _query("sqbm", _list_of("区划编码 (6 digits)", regions)),
        _query("wgbm", _list_of("单元网格编码 (15 digits)", "370811001010001")),
        _query("xlbm", _list_of("小类编码 (4 digits) of either catalogue (部件 or 事件: they reuse numbers)",
                                "0101,0402")),
        _query("ajlx", _list_of("案卷类型", "部件")),
        _query("bjxlbm", _list_of("部件小类编码 (4 digits): 部件 cases of these classes; with sjxlbm, either",
                                  "0102,0113")),
        _query("sjxlbm", _list_of("事件小类编码 (4 digits): 事件 cases of these classes; with bjxlbm, either",
                                  "0102,0505")),
        _query("ajzt", _list_of("案卷状态", "结案,处理中")),
        _query("wtly", _list_of("问题来源", "12345热线,公众举报")),
        _query("bjbsm", _list_of("部件标识码 (16 digits): cases about these components", "3708110101000001")),
        _query("sbsjq", "上报时间起 (inclusive), yyyy-MM-dd HH:mm:ss", TIME_EXAMPLE),
        _query("sbsjz", "上报时间止 (inclusive), yyyy-MM-dd HH:mm:ss", TIME_EXAMPLE),
        _query("bbox", "CGCS2000 box minLng,minLat,maxLng,maxLat", "116.50,35.36,116.60,35.42"),
        _query("near", "CGCS2000 circle lng,lat,radiusMetres", "116.58,35.42,500"),
    ]
    alarm_filters = [
        _query("sqbm", _list_of("区划编码 (6 digits)", regions)),
        _query("bjbsm", _list_of("部件标识码 (16 digits)", "3708110113000001")),
        _query("bjjb", _list_of("报警级别", "一级,二级")),
        _query("jczb", _list_of("监测指标", "管网压力,浊度")),
        _query("bjsjq", "报警时间起 (inclusive), yyyy-MM-dd HH:mm:ss", TIME_EXAMPLE),
        _query("bjsjz", "报警时间止 (inclusive), yyyy-MM-dd HH:mm:ss", TIME_EXAMPLE),
    ]
    return {
        "openapi": "3.0.3",
        "info": {"title": f"{SYSTEM_NAME} 数据共享接口", "version": SYSTEM_VERSION,
                 "description": "案卷与运行监测报警. Times are local (Asia/Shanghai) without offset; "
                                "coordinates CGCS2000; lists are comma-separated; rows in ascending id "
                                "order."},
        "paths": {
            "/api/cases": {"get": {
                "operationId": "listCases", "summary": "案卷查询 (ascending ajbh)",
                "parameters": [*case_filters, *PAGING_PARAMETERS],
                "responses": _responses("#/components/schemas/CasePage"),
            }},
            "/api/cases/batch": {"get": {
                "operationId": "getCasesBatch", "summary": "按案卷编号批量查询 (unknown ids are absent)",
                "parameters": [_query("ajbh", f"案卷编号, comma-separated, at most {MAX_BATCH_IDS}",
                                      "2026110100001,2026110100002", required=True)],
                "responses": _responses("#/components/schemas/CasePage"),
            }},
            "/api/alarms": {"get": {
                "operationId": "listAlarms", "summary": "运行监测报警查询 (ascending bjid)",
                "parameters": [*alarm_filters, *PAGING_PARAMETERS],
                "responses": _responses("#/components/schemas/AlarmPage"),
            }},
            "/api/stats": {"get": {
                "operationId": "getStats",
                "summary": "综合评价统计: counts per district (one row per asked district, ascending sqbm)",
                "parameters": [
                    _query("sqbm", _list_of("区划编码 (6 digits); empty = every district served", regions)),
                    _query("sbsjq", "统计时间起 (inclusive): cases by 上报时间, alarms by 报警时间; "
                                    "yyyy-MM-dd HH:mm:ss", TIME_EXAMPLE),
                    _query("sbsjz", "统计时间止 (inclusive), yyyy-MM-dd HH:mm:ss", TIME_EXAMPLE),
                ],
                "responses": _responses("#/components/schemas/StatsPage"),
            }},
            "/api/heartbeat": {"get": {
                "operationId": "heartbeat", "summary": "心跳检测",
                "responses": {"200": {"description": "UP", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Heartbeat"}}}}},
            }},
        },
        "components": {"schemas": {
            "Case": _case_schema(),
            "Alarm": _alarm_schema(),
            "CasePage": _page_schema("#/components/schemas/Case"),
            "AlarmPage": _page_schema("#/components/schemas/Alarm"),
            **_stats_schemas(),
            "Error": {"type": "object", "required": ["success", "code", "msg"], "properties": {
                "success": {"type": "boolean"}, "code": {"type": "integer"}, "msg": {"type": "string"}}},
            "Heartbeat": {
                "type": "object", "required": ["success", "status", "system", "version"], "properties": {
                    "success": {"type": "boolean"}, "status": {"type": "string", "enum": ["UP"]},
                    "system": {"type": "string"}, "version": {"type": "string"}}},
        }},
    }
