"""The 数字城管 case system's dialect for cases (案卷) and alarms, both ways: its rows read as ``EventRecord`` and
``AlertRecord``, and ``EventQuery`` and ``AlertQuery`` written as its request parameters.

The department speaks pinyin-abbreviation JSON (``ajbh``, ``ajzt``, ``sbsj`` ...) with Chinese vocabularies, naive
local times, CGCS2000 coordinates and pressure in kPa.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.geo import CRS, from_wgs84, to_wgs84
from connectors.records import (
    AlertLevel,
    AlertQuery,
    AlertRecord,
    BBox,
    EventKind,
    EventQuery,
    EventRecord,
    EventSource,
    EventStatus,
    Near,
)
from connectors.values import parse_local_time

DEPARTMENT_CRS = CRS.CGCS2000
DEPARTMENT_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")  # China has kept +08:00 without DST since 1991
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
VALUE_DECIMALS = 9  # drops float noise of unit conversion, far below any sensor's resolution

STATUS_BY_NAME = {
    "待受理": EventStatus.PENDING_ACCEPTANCE, "立案未移交": EventStatus.REGISTERED,
    "立案派遣": EventStatus.DISPATCHED, "处理中": EventStatus.IN_PROGRESS, "核查结案": EventStatus.VERIFYING,
    "结案": EventStatus.CLOSED, "作废": EventStatus.VOIDED, "缓办": EventStatus.POSTPONED,
    "督查": EventStatus.SUPERVISED,
}
SOURCE_BY_NAME = {
    "监督员上报": EventSource.INSPECTOR, "公众举报": EventSource.PUBLIC_REPORT,
    "12345热线": EventSource.HOTLINE_12345, "传感器": EventSource.SENSOR,
}
KIND_BY_NAME = {"部件": EventKind.COMPONENT, "事件": EventKind.EVENT}
# The department names a class with its catalogue: 部件小类 and 事件小类 reuse the same 4-digit numbers.
CLASS_PARAM_BY_KIND = {EventKind.COMPONENT: "bjxlbm", EventKind.EVENT: "sjxlbm"}
LEVEL_BY_NAME = {
    "一级": AlertLevel.RED, "二级": AlertLevel.ORANGE, "三级": AlertLevel.YELLOW, "四级": AlertLevel.BLUE,
}
# Metric names follow schema/thresholds.toml (every metric it has a rule for is in this vocabulary); several
# department words may name one metric, and a metric filter sends all of them.
METRIC_BY_NAME = {
    "管网压力": "pressure", "浊度": "turbidity", "pH值": "ph", "余氯": "residual_chlorine",
    "积水深度": "ponding_depth", "空气质量指数": "aqi", "PM10": "pm10", "施工噪声": "noise",
    "甲烷浓度": "methane", "可燃气体浓度": "methane",
}
CANONICAL_UNITS = {
    "pressure": "MPa", "turbidity": "NTU", "ph": "pH", "residual_chlorine": "mg/L", "ponding_depth": "cm",
    "aqi": "AQI", "pm10": "µg/m³", "noise": "dB(A)", "methane": "%LEL",
}
# (department's unit, canonical unit) -> factor; the department sends dimensionless pH and AQI without a unit.
# Methane: 100 %LEL is 5 %VOL, i.e. 50,000 ppm (the LEL Chinese gas detectors use, as in connectors/spec/units.py).
# Noise: only A-weighted levels (GB 12523-2011 limits are dB(A)); a bare "dB" is not assumed to be one.
UNIT_FACTORS = {
    ("kPa", "MPa"): 0.001, ("MPa", "MPa"): 1.0, ("NTU", "NTU"): 1.0, ("", "pH"): 1.0, ("pH", "pH"): 1.0,
    ("mg/L", "mg/L"): 1.0, ("cm", "cm"): 1.0, ("mm", "cm"): 0.1, ("", "AQI"): 1.0, ("AQI", "AQI"): 1.0,
    ("μg/m3", "µg/m³"): 1.0, ("µg/m3", "µg/m³"): 1.0, ("ug/m3", "µg/m³"): 1.0, ("µg/m³", "µg/m³"): 1.0,
    ("dB(A)", "dB(A)"): 1.0, ("dBA", "dB(A)"): 1.0,
    ("%LEL", "%LEL"): 1.0, ("%VOL", "%LEL"): 20.0, ("ppm", "%LEL"): 1 / 500,
}


def _dialect_names(vocabulary: Mapping[str, Any], values: Iterable[Any]) -> str:
    """Every department word for the values, in vocabulary order (a value may have several words)."""
    wanted = set(values)
    return ",".join(name for name, value in vocabulary.items() if value in wanted)


# --- department values -> records -------------------------------------------------------------------------
def parse_time(value: str) -> datetime:
    return parse_local_time(value, DEPARTMENT_TZ)


def parse_optional_time(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


def read_text(row: Mapping[str, Any], key: str) -> str:
    value = row[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is {type(value).__name__}, not a string")
    return value


def read_optional_text(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key} is {type(value).__name__}, not a string")
    return value


def read_number(row: Mapping[str, Any], key: str) -> float:
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} is {type(value).__name__}, not a number")
    return float(value)


def event_record(row: Mapping[str, Any]) -> EventRecord:
    lng, lat = to_wgs84(DEPARTMENT_CRS, read_number(row, "zbx"), read_number(row, "zby"))
    return EventRecord(
        id=read_text(row, "ajbh"),
        kind=KIND_BY_NAME[read_text(row, "ajlx")],
        class_code=read_text(row, "xlbm"),
        source=SOURCE_BY_NAME[read_text(row, "wtly")],
        status=STATUS_BY_NAME[read_text(row, "ajzt")],
        description=read_text(row, "wtms"),
        address=read_text(row, "dz"),
        lng=lng,
        lat=lat,
        region_code=read_text(row, "sqbm"),
        grid_code=read_text(row, "wgbm"),
        component_id=read_optional_text(row, "bjbsm"),
        handling_department=read_optional_text(row, "zrbm"),
        reported_at=parse_time(read_text(row, "sbsj")),
        deadline=parse_optional_time(read_optional_text(row, "clsx")),
        closed_at=parse_optional_time(read_optional_text(row, "jasj")),
        reporter_name=read_optional_text(row, "sbr"),
        reporter_phone=read_optional_text(row, "lxdh"),
    )


def alert_record(row: Mapping[str, Any]) -> AlertRecord:
    metric = METRIC_BY_NAME[read_text(row, "jczb")]
    unit = CANONICAL_UNITS[metric]
    factor = UNIT_FACTORS[(read_text(row, "dw"), unit)]
    return AlertRecord(
        id=read_text(row, "bjid"),
        component_id=read_text(row, "bjbsm"),
        metric=metric,
        value=round(read_number(row, "jcz") * factor, VALUE_DECIMALS),
        unit=unit,
        threshold=round(read_number(row, "yz") * factor, VALUE_DECIMALS),
        level=LEVEL_BY_NAME[read_text(row, "bjjb")],
        raised_at=parse_time(read_text(row, "bjsj")),
        department_id=read_text(row, "ssbm"),
        region_code=read_text(row, "sqbm"),
    )


# --- queries -> department parameters ---------------------------------------------------------------------
def local_time(moment: datetime, *, round_up: bool) -> str:
    """The department's whole-second local time; rounding keeps its inclusive ranges within the asked ones."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=DEPARTMENT_TZ)
    local = moment.astimezone(DEPARTMENT_TZ)
    if local.microsecond:
        local = local.replace(microsecond=0) + (timedelta(seconds=1) if round_up else timedelta())
    return local.strftime(TIME_FORMAT)


def _coordinates(*values: float) -> str:
    return ",".join(repr(value) for value in values)


def _bbox_param(bbox: BBox) -> str:
    min_lng, min_lat = from_wgs84(DEPARTMENT_CRS, bbox.min_lng, bbox.min_lat)
    max_lng, max_lat = from_wgs84(DEPARTMENT_CRS, bbox.max_lng, bbox.max_lat)
    return _coordinates(min_lng, min_lat, max_lng, max_lat)


def _near_param(near: Near) -> str:
    lng, lat = from_wgs84(DEPARTMENT_CRS, near.lng, near.lat)
    return _coordinates(lng, lat, near.radius_m)


def _has_empty_filter(*filters: tuple[Any, ...] | None) -> bool:
    """An empty (not absent) list filter matches nothing: no department call needed."""
    return any(values is not None and not values for values in filters)


def case_params(query: EventQuery) -> dict[str, str] | None:
    """The department's parameters for an EventQuery, or None when the query cannot match anything."""
    if _has_empty_filter(query.region_codes, query.classes, query.statuses, query.sources,
                         query.component_ids):
        return None
    params: dict[str, str] = {}
    if query.region_codes is not None:
        params["sqbm"] = ",".join(query.region_codes)
    if query.grid_code is not None:
        params["wgbm"] = query.grid_code
    if query.classes is not None:
        # Never the code-only ``xlbm``: it matches 0102 污水井盖 and 0102 暴露垃圾 alike.
        for kind, name in CLASS_PARAM_BY_KIND.items():
            codes = sorted(code for class_kind, code in query.classes if class_kind is kind)
            if codes:
                params[name] = ",".join(codes)
    if query.statuses is not None:
        params["ajzt"] = _dialect_names(STATUS_BY_NAME, query.statuses)
    if query.sources is not None:
        params["wtly"] = _dialect_names(SOURCE_BY_NAME, query.sources)
    if query.component_ids is not None:
        params["bjbsm"] = ",".join(query.component_ids)
    if query.reported_from is not None:
        params["sbsjq"] = local_time(query.reported_from, round_up=True)
    if query.reported_to is not None:
        params["sbsjz"] = local_time(query.reported_to, round_up=False)
    if query.bbox is not None:
        params["bbox"] = _bbox_param(query.bbox)
    if query.near is not None:
        params["near"] = _near_param(query.near)
    return params


def alert_params(query: AlertQuery) -> dict[str, str] | None:
    """The department's parameters for an AlertQuery, or None when the query cannot match anything."""
    metrics = None if query.metrics is None else tuple(m for m in query.metrics if m in CANONICAL_UNITS)
    if _has_empty_filter(query.region_codes, query.component_ids, query.levels, metrics):
        return None
    params: dict[str, str] = {}
    if query.region_codes is not None:
        params["sqbm"] = ",".join(query.region_codes)
    if query.component_ids is not None:
        params["bjbsm"] = ",".join(query.component_ids)
    if query.levels is not None:
        params["bjjb"] = _dialect_names(LEVEL_BY_NAME, query.levels)
    if metrics is not None:
        params["jczb"] = _dialect_names(METRIC_BY_NAME, metrics)
    if query.raised_from is not None:
        params["bjsjq"] = local_time(query.raised_from, round_up=True)
    if query.raised_to is not None:
        params["bjsjz"] = local_time(query.raised_to, round_up=False)
    return params
