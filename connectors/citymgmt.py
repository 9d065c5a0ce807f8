"""Connector for the 数字城管 case system: cases (案卷) and monitoring alarms, no components of its own.

The department speaks pinyin-abbreviation JSON (``ajbh``, ``ajzt``, ``sbsj`` ...) with Chinese vocabularies,
naive local times, CGCS2000 coordinates, pressure in kPa and 1-based ``pageNo``/``pageSize`` pages in
``{"success", "total", "rows"}`` envelopes. Resume positions are absolute offsets into the department's
ordering (ascending 案卷编号 / 报警编号); a window that straddles two department pages is read with one larger
page when a size covers it, else with two concurrent page calls.

Evaluation statistics come from ``/api/stats``: one call with the districts (``sqbm``) and the inclusive window
(``sbsjq``/``sbsjz``, rounded inwards to whole local seconds) answers raw counts per district, mapped to
``RegionStats``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar

from connectors.base import Connector
from connectors.concurrency import gather
from connectors.errors import UpstreamBadResponse, UpstreamUnavailable
from connectors.geo import CRS, from_wgs84, to_wgs84
from connectors.http import get_json, translating
from connectors.records import (
    AlertLevel,
    AlertQuery,
    AlertRecord,
    BBox,
    CaseClass,
    EventKind,
    EventQuery,
    EventRecord,
    EventSource,
    EventStatus,
    Near,
    SearchPage,
)
from connectors.statistics import RegionStats
from connectors.values import is_ascii_digits, offset_position, parse_local_time

DEPARTMENT_ID = "citymgmt"
DEPARTMENT_CRS = CRS.CGCS2000
DEPARTMENT_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")  # China has kept +08:00 without DST since 1991
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_PAGE_SIZE = 500
BATCH_CHUNK = 100
CASE_ID_LENGTH = 13
VALUE_DECIMALS = 9  # drops float noise of unit conversion, far below any sensor's resolution

CASES_PATH = "/api/cases"
CASES_BATCH_PATH = "/api/cases/batch"
ALARMS_PATH = "/api/alarms"
STATS_PATH = "/api/stats"
HEARTBEAT_PATH = "/api/heartbeat"

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

RecordT = TypeVar("RecordT")
KeyT = TypeVar("KeyT")
CLASS_CODE_LENGTH = 4
DISTRICT_CODE_LENGTH = 6


def _dialect_names(vocabulary: Mapping[str, Any], values: Iterable[Any]) -> str:
    """Every department word for the values, in vocabulary order (a value may have several words)."""
    wanted = set(values)
    return ",".join(name for name, value in vocabulary.items() if value in wanted)


# --- department values -> records -------------------------------------------------------------------------
def parse_time(value: str) -> datetime:
    return parse_local_time(value, DEPARTMENT_TZ)


def parse_optional_time(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is {type(value).__name__}, not a string")
    return value


def _optional_text(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key} is {type(value).__name__}, not a string")
    return value


def _number(row: Mapping[str, Any], key: str) -> float:
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} is {type(value).__name__}, not a number")
    return float(value)


def event_record(row: Mapping[str, Any]) -> EventRecord:
    lng, lat = to_wgs84(DEPARTMENT_CRS, _number(row, "zbx"), _number(row, "zby"))
    return EventRecord(
        id=_text(row, "ajbh"),
        kind=KIND_BY_NAME[_text(row, "ajlx")],
        class_code=_text(row, "xlbm"),
        source=SOURCE_BY_NAME[_text(row, "wtly")],
        status=STATUS_BY_NAME[_text(row, "ajzt")],
        description=_text(row, "wtms"),
        address=_text(row, "dz"),
        lng=lng,
        lat=lat,
        region_code=_text(row, "sqbm"),
        grid_code=_text(row, "wgbm"),
        component_id=_optional_text(row, "bjbsm"),
        handling_department=_optional_text(row, "zrbm"),
        reported_at=parse_time(_text(row, "sbsj")),
        deadline=parse_optional_time(_optional_text(row, "clsx")),
        closed_at=parse_optional_time(_optional_text(row, "jasj")),
        reporter_name=_optional_text(row, "sbr"),
        reporter_phone=_optional_text(row, "lxdh"),
    )


def alert_record(row: Mapping[str, Any]) -> AlertRecord:
    metric = METRIC_BY_NAME[_text(row, "jczb")]
    unit = CANONICAL_UNITS[metric]
    factor = UNIT_FACTORS[(_text(row, "dw"), unit)]
    return AlertRecord(
        id=_text(row, "bjid"),
        component_id=_text(row, "bjbsm"),
        metric=metric,
        value=round(_number(row, "jcz") * factor, VALUE_DECIMALS),
        unit=unit,
        threshold=round(_number(row, "yz") * factor, VALUE_DECIMALS),
        level=LEVEL_BY_NAME[_text(row, "bjjb")],
        raised_at=parse_time(_text(row, "bjsj")),
        department_id=_text(row, "ssbm"),
        region_code=_text(row, "sqbm"),
    )


def _count(row: Mapping[str, Any], key: str) -> int:
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is {type(value).__name__}, not an integer")
    if value < 0:
        raise ValueError(f"{key} is negative: {value}")
    return value


def _counts(row: Mapping[str, Any], key: str, name_key: str, to_key: Callable[[str], KeyT],
            counts: dict[KeyT, int]) -> dict[KeyT, int]:
    """Add the department's ``[{name_key: ..., "sl": n}]`` list to ``counts`` (repeated names add up)."""
    entries = row[key]
    if not isinstance(entries, list):
        raise TypeError(f"{key} is {type(entries).__name__}, not a list")
    for entry in entries:
        if not isinstance(entry, dict):
            raise TypeError(f"{key} entries must be objects")
        name = to_key(_text(entry, name_key))
        counts[name] = counts.get(name, 0) + _count(entry, "sl")
    return counts


def _class_code(value: str) -> str:
    if len(value) != CLASS_CODE_LENGTH or not is_ascii_digits(value):
        raise ValueError(f"not a 4-digit class code: {value!r}")
    return value


def _class_counts(row: Mapping[str, Any]) -> dict[CaseClass, int]:
    """``ajlb``: cases per (案卷类型, 小类). An entry without its kind is refused: its count cannot be told apart
    between the 部件 and the 事件 class of the same number."""
    counts: dict[CaseClass, int] = {}
    entries = row["ajlb"]
    if not isinstance(entries, list):
        raise TypeError(f"ajlb is {type(entries).__name__}, not a list")
    for entry in entries:
        if not isinstance(entry, dict):
            raise TypeError("ajlb entries must be objects")
        key = (KIND_BY_NAME[_text(entry, "ajlx")], _class_code(_text(entry, "xlbm")))
        counts[key] = counts.get(key, 0) + _count(entry, "sl")
    return counts


def region_stats_record(row: Mapping[str, Any]) -> RegionStats:
    region_code = _text(row, "sqbm")
    if len(region_code) != DISTRICT_CODE_LENGTH or not is_ascii_digits(region_code):
        raise ValueError(f"not a 6-digit region code: {region_code!r}")
    hours = _number(row, "czsc")
    if hours < 0:
        raise ValueError(f"czsc is negative: {hours}")
    return RegionStats(
        region_code=region_code,
        cases_total=_count(row, "ajzs"),
        to_handle=_count(row, "yczs"),
        handled=_count(row, "czs"),
        handled_on_time=_count(row, "aqczs"),
        to_close=_count(row, "yjas"),
        closed=_count(row, "jas"),
        closed_on_time=_count(row, "aqjas"),
        reworked=_count(row, "fgs"),
        extended=_count(row, "yqs"),
        handling_hours_sum=hours,
        by_class=_class_counts(row),
        by_status=_counts(row, "ajzt", "ajzt", STATUS_BY_NAME.__getitem__, dict.fromkeys(EventStatus, 0)),
        alerts_by_level=_counts(row, "bjjb", "bjjb", LEVEL_BY_NAME.__getitem__, dict.fromkeys(AlertLevel, 0)),
    )


# --- queries -> department parameters ---------------------------------------------------------------------
def _local_time(moment: datetime, *, round_up: bool) -> str:
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
        params["sbsjq"] = _local_time(query.reported_from, round_up=True)
    if query.reported_to is not None:
        params["sbsjz"] = _local_time(query.reported_to, round_up=False)
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
        params["bjsjq"] = _local_time(query.raised_from, round_up=True)
    if query.raised_to is not None:
        params["bjsjz"] = _local_time(query.raised_to, round_up=False)
    return params


def stats_params(region_codes: Sequence[str], start: datetime, end: datetime) -> dict[str, str]:
    return {
        "sqbm": ",".join(sorted(set(region_codes))),
        "sbsjq": _local_time(start, round_up=True),
        "sbsjz": _local_time(end, round_up=False),
    }


# --- pagination -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PagePlan:
    """Consecutive department pages (1-based, all of ``size``); their rows start at offset ``start``."""

    size: int
    pages: tuple[int, ...]

    @property
    def start(self) -> int:
        return (self.pages[0] - 1) * self.size


def plan_pages(offset: int, count: int, max_size: int = MAX_PAGE_SIZE) -> PagePlan:
    """Pages covering rows [offset, offset + count), count >= 1.

    One page when a size of at most twice the count aligns with the window (never more rows than two pages of
    ``count``), else two consecutive pages of ``count``.
    """
    for size in range(count, min(max_size, 2 * count) + 1):
        if offset % size + count <= size:
            return PagePlan(size, (offset // size + 1,))
    return PagePlan(count, (offset // count + 1, offset // count + 2))


def _empty_page() -> SearchPage[Any]:
    return SearchPage(items=[], positions=[], total=0, has_more=False)


class CityManagementConnector(Connector):
    """数字城管: cases (案卷) and 运行监测 alarms for the served districts."""

    department_id: ClassVar[str] = DEPARTMENT_ID
    department_name: ClassVar[str] = "数字城管 City management"
    serves_events: ClassVar[bool] = True
    serves_alerts: ClassVar[bool] = True
    serves_stats: ClassVar[bool] = True
    cache_ttls: ClassVar[Mapping[str, float | None]] = {"events": 20.0, "alerts": None, "stats": 120.0}

    async def get_events(self, ids: Sequence[str]) -> list[EventRecord]:
        wanted = sorted({case_id for case_id in ids if len(case_id) == CASE_ID_LENGTH and is_ascii_digits(case_id)})
        chunks = [wanted[i: i + BATCH_CHUNK] for i in range(0, len(wanted), BATCH_CHUNK)]
        pages = await gather(*(self._fetch(CASES_BATCH_PATH, {"ajbh": ",".join(chunk)})
                                       for chunk in chunks))
        with translating(self.department_id):
            return [event_record(row) for _, rows in pages for row in rows]

    async def search_events(self, query: EventQuery, after: str | None,
                            first: int) -> SearchPage[EventRecord]:
        offset = offset_position(after, DEPARTMENT_ID)
        params = case_params(query)
        if params is None:
            return _empty_page()
        return await self._search(CASES_PATH, params, offset, first, event_record)

    async def search_alerts(self, query: AlertQuery, after: str | None,
                            first: int) -> SearchPage[AlertRecord]:
        offset = offset_position(after, DEPARTMENT_ID)
        params = alert_params(query)
        if params is None:
            return _empty_page()
        return await self._search(ALARMS_PATH, params, offset, first, alert_record)

    async def region_stats(self, region_codes: Sequence[str], start: datetime, end: datetime) -> list[RegionStats]:
        """One ``/api/stats`` call for all the districts; an asked district missing from the answer is a bad
        response (never a silent hole). Rows are returned as the department sent them (ascending sqbm)."""
        if not region_codes:
            return []
        params = stats_params(region_codes, start, end)
        _, rows = await self._fetch(STATS_PATH, params)
        with translating(self.department_id):
            records = [region_stats_record(row) for row in rows]
            missing = set(region_codes) - {record.region_code for record in records}
            if missing:
                raise ValueError(f"no stats row for {','.join(sorted(missing))}")
        return records

    async def check_health(self) -> None:
        body = await get_json(self.client, self.department_id, HEARTBEAT_PATH)
        if not isinstance(body, dict) or "status" not in body:
            raise UpstreamBadResponse(self.department_id, f"{self.department_id}: heartbeat without a status")
        if body.get("success") is not True or body["status"] != "UP":
            raise UpstreamUnavailable(self.department_id,
                                      f"{self.department_id}: heartbeat reports {body['status']!r}")

    # --- department calls ----------------------------------------------------------------------------------
    async def _search(self, path: str, params: dict[str, str], offset: int, first: int,
                      to_record: Callable[[Mapping[str, Any]], RecordT]) -> SearchPage[RecordT]:
        count = min(max(first, 0), MAX_PAGE_SIZE)
        # With nothing to read, one single-row page still tells the total.
        plan = plan_pages(offset, count) if count else PagePlan(1, (1,))
        answers = await gather(*(
            self._fetch(path, {**params, "pageNo": str(page), "pageSize": str(plan.size)})
            for page in plan.pages))
        total = answers[0][0]
        rows = [row for _, page_rows in answers for row in page_rows]
        window = rows[offset - plan.start: offset - plan.start + count]
        with translating(self.department_id):
            items = [to_record(row) for row in window]
        return SearchPage(
            items=items,
            positions=[str(offset + index + 1) for index in range(len(items))],
            total=total,
            has_more=offset + len(items) < total,
        )

    async def _fetch(self, path: str, params: Mapping[str, str]) -> tuple[int, list[Mapping[str, Any]]]:
        """(total, rows) of one department answer, after checking its envelope."""
        body = await get_json(self.client, self.department_id, path, params=params)
        with translating(self.department_id):
            if body.get("success") is not True:
                raise ValueError(f"success is {body.get('success')!r}: {body.get('msg')!r}")
            total, rows = body["total"], body["rows"]
            if not isinstance(total, int) or not isinstance(rows, list):
                raise TypeError("total must be an integer and rows a list")
            if not all(isinstance(row, dict) for row in rows):
                raise TypeError("rows must be objects")
            return total, rows
