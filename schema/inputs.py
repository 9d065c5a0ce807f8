"""Filter inputs, and their validation into connector queries, at the edge: every value is checked here before
any department is asked. Every rejection is a ``UserInputError`` (``BAD_USER_INPUT``) naming the argument
(``extensions.argument``) and what would be accepted. Codes are ASCII digits only (``str.isdigit`` and ``\\d`` also
take full-width ３７０８１１). Whether a region lies in the caller's scope is checked next, by
``gateway.scoping.scoped_region`` from the ``SearchScope`` built here, also before any department is asked."""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Sequence
from datetime import datetime, timedelta

import strawberry

from connectors import records
from gateway.context import CHINA_TZ
from gateway.exceptions import UserInputError
from gateway.scoping import RegionArgument, SearchScope
from schema.codes import (
    NATIONAL_REGION_CODE,
    Catalogue,
    ClassEntry,
    component_class_of,
    division_problem,
    is_component_id,
    is_grid_code,
    is_region_prefix,
    load_catalogue,
    local_division_problem,
    region_of,
    region_prefix,
)
from schema.enums import AlertLevel, ComponentStatus, EventKind, EventSource, EventStatus

MAX_NEAR_RADIUS_M = 50_000.0
# Values in one list filter: more than any class catalogue, department list or metric vocabulary holds, far fewer
# than a megabyte of request body can carry (a list of 100,000 class codes is refused, not looked up one by one).
MAX_LIST_VALUES = 500
MAX_EVENT_ID_LENGTH = 64
# 数字化城市管理 (万米单元网格, GB/T 30428) dates from 2004: no case, alarm or statistic lies before it. A time further
# ahead than a year is a typo (2062 for 2026); both bounds keep every time convertible to any department's zone.
EARLIEST_TIME = datetime(2004, 1, 1, tzinfo=CHINA_TZ)
MAX_TIME_AHEAD = timedelta(days=366)
MAX_SHOWN_CHARS = 40  # an error message quotes at most this much of a value
MAX_SHOWN_VALUES = 10
EVENT_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]*")  # 案卷编号: 13 digits at 数字城管, letters elsewhere
DEPARTMENT_ID = re.compile(r"[a-z][a-z0-9_]{1,31}")  # as connectors/spec/model.py DEPARTMENT_ID_PATTERN
METRIC = re.compile(r"[a-z][a-z0-9_]{0,63}")  # pressure, ph, residual_chlorine, pm10 …


@strawberry.input(description="Bounding box in WGS-84 / CGCS2000 degrees")
class BBoxInput:
    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float


@strawberry.input(description="Circle around a WGS-84 / CGCS2000 point")
class NearInput:
    lng: float
    lat: float
    radius_m: float = strawberry.field(description=f"Radius in metres (at most {MAX_NEAR_RADIUS_M:g})")


@strawberry.input(description="Which components to list")
class ComponentFilter:
    region_code: str | None = strawberry.field(default=None, description=(
        "行政区划 — GB/T 2260 code or prefix: 2 digits a province, 4 a city, 6 a district "
        "(370800 and 3708 both mean 济宁市)"))
    grid_code: str | None = strawberry.field(default=None, description="单元网格代码 (15 digits)")
    class_codes: list[str] | None = strawberry.field(default=None, description="部件小类 codes (4 digits)")
    status: list[ComponentStatus] | None = strawberry.field(default=None, description="部件状态")
    bbox: BBoxInput | None = None
    near: NearInput | None = None
    departments: list[str] | None = strawberry.field(default=None, description="Department ids (water, …)")


@strawberry.input(description=(
    "问题类别 — a case class: the catalogue (部件 or 事件) and its 4-digit 小类 code. The two catalogues reuse "
    "numbers (GB/T 30428.2): {kind: COMPONENT, code: \"0102\"} is 污水井盖, {kind: EVENT, code: \"0102\"} 暴露垃圾"))
class CaseClassInput:
    kind: EventKind = strawberry.field(description="部件 (COMPONENT) or 事件 (EVENT): which catalogue `code` is in")
    code: str = strawberry.field(description="小类代码 (4 digits) in that catalogue; see `componentClasses`, "
                                             "`eventClasses`")


@strawberry.input(description="Which cases to list")
class EventFilter:
    region_code: str | None = strawberry.field(default=None, description="行政区划 code or prefix")
    grid_code: str | None = strawberry.field(default=None, description="单元网格代码")
    classes: list[CaseClassInput] | None = strawberry.field(default=None, description=(
        "问题类别: cases of any of these (kind, 小类) classes"))
    status: list[EventStatus] | None = None
    source: list[EventSource] | None = None
    component_id: str | None = strawberry.field(default=None, description="部件标识码")
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    bbox: BBoxInput | None = None
    near: NearInput | None = None


@strawberry.input(description="Which alarms to list")
class AlertFilter:
    region_code: str | None = strawberry.field(default=None, description="行政区划 code or prefix")
    component_id: str | None = strawberry.field(default=None, description="部件标识码")
    level: list[AlertLevel] | None = None
    metric: list[str] | None = None
    raised_from: datetime | None = None
    raised_to: datetime | None = None


def shown(value: str) -> str:
    """A value quoted in an error message, cut short: a refusal never echoes a megabyte back."""
    return repr(value if len(value) <= MAX_SHOWN_CHARS else value[:MAX_SHOWN_CHARS] + "…")


def _shown_list(values: Sequence[str]) -> str:
    more = f" and {len(values) - MAX_SHOWN_VALUES} more" if len(values) > MAX_SHOWN_VALUES else ""
    return ", ".join(shown(v) for v in values[:MAX_SHOWN_VALUES]) + more


def check_list(values: Sequence[Hashable], argument: str) -> None:
    """A list filter is a set: at most ``MAX_LIST_VALUES`` values, none twice. An empty list matches nothing."""
    if len(values) > MAX_LIST_VALUES:
        raise UserInputError(f"{argument} has {len(values)} values; at most {MAX_LIST_VALUES} are accepted",
                             argument=argument)
    seen: set[Hashable] = set()
    for value in values:
        if value in seen:
            name = value.name if hasattr(value, "name") else str(value)
            raise UserInputError(f"{argument} names {shown(name)} more than once", argument=argument)
        seen.add(value)


def parse_region(value: str | None, argument: str = "regionCode") -> str | None:
    """A GB/T 2260 division code (000000 the country) or its 2/4/6-digit prefix, as the prefix it stands for."""
    if value is None:
        return None
    if value == NATIONAL_REGION_CODE:
        return ""
    if is_region_prefix(value):
        code = value.ljust(6, "0")
        problem = division_problem(code)
        if problem is None and code == NATIONAL_REGION_CODE:
            problem = "the whole country is 000000"
        elif problem is None and len(value) == 4 and value.endswith("00"):
            problem = "a 4-digit prefix names a city: its digits 3-4 are not 00"
        if problem is None:
            return region_prefix(value) if len(value) == 6 else value
    else:
        problem = "not 2, 4 or 6 digits (0-9)"
    raise UserInputError(f"{argument} must be a GB/T 2260 division code (000000 the country) or its 2/4/6-digit "
                         f"prefix, got {shown(value)}: {problem}", argument=argument)


def parse_grid(value: str | None, argument: str = "gridCode") -> str | None:
    if value is None:
        return None
    problem = "not 15 digits (0-9)" if not is_grid_code(value) else local_division_problem(region_of(value))
    if problem is not None:
        raise UserInputError(f"{argument} must be a 15-digit 单元网格 code (6 区划 + 3 街道 + 2 社区 + 4 序号), got "
                             f"{shown(value)}: {problem}", argument=argument)
    return value


def parse_component_id(value: str, argument: str = "id") -> str:
    problem = (f"not 16 digits (0-9) but {len(value)} characters" if not is_component_id(value)
               else local_division_problem(region_of(value)))
    if problem is not None:
        raise UserInputError(f"{argument} must be a 16-digit 部件标识码 (6 区划 + 2 大类 + 2 小类 + 6 序号), got "
                             f"{shown(value)}: {problem}", argument=argument)
    if load_catalogue().component_class(component_class_of(value)) is None:
        raise UserInputError(f"{argument} {value!r} names component class {component_class_of(value)!r}, "
                             "which is not in the code catalogue", argument=argument)
    return value


def parse_first(value: int, maximum: int, argument: str = "first") -> int:
    """A page size or list limit within 0..maximum; a negative one is refused, not read as 0."""
    if not 0 <= value <= maximum:
        raise UserInputError(f"{argument} must be within 0..{maximum}, got {value}", argument=argument)
    return value


def parse_event_id(value: str, argument: str = "id") -> str:
    """A case number (案卷编号): letters, digits, '.', '_' or '-', at most ``MAX_EVENT_ID_LENGTH`` characters."""
    if len(value) > MAX_EVENT_ID_LENGTH or not value.isascii() or EVENT_ID.fullmatch(value) is None:
        raise UserInputError(f"{argument} must be a case number (案卷编号): 1-{MAX_EVENT_ID_LENGTH} ASCII letters, "
                             f"digits, '.', '_' or '-', got {shown(value)}", argument=argument)
    return value


def parse_component_classes(values: list[str] | None, argument: str = "classCodes") -> tuple[str, ...] | None:
    if values is None:
        return None
    check_list(values, argument)
    catalogue = load_catalogue()
    unknown = [v for v in values if catalogue.component_class(v) is None]
    if unknown:
        raise UserInputError(f"{argument}: unknown 部件小类 code(s) {_shown_list(unknown)}; see `componentClasses`",
                             argument=argument)
    return tuple(values)


CATALOGUE_NAMES = {records.EventKind.COMPONENT: ("a 部件小类", "componentClasses"),
                   records.EventKind.EVENT: ("an 事件小类", "eventClasses")}


def _catalogue_entry(catalogue: Catalogue, kind: records.EventKind, code: str) -> ClassEntry | None:
    return catalogue.component_class(code) if kind is records.EventKind.COMPONENT else catalogue.event_class(code)


def parse_case_classes(values: list[CaseClassInput] | None, argument: str = "classes"
                       ) -> tuple[records.CaseClass, ...] | None:
    """(kind, code) pairs, each code looked up in its own kind's catalogue: 0102 is a 部件 and an 事件 class, 0199
    neither, 0113 (消火栓) a 部件 class only."""
    if values is None:
        return None
    pairs = [(records.EventKind(value.kind.name), value.code) for value in values]
    if len(pairs) > MAX_LIST_VALUES:
        raise UserInputError(f"{argument} has {len(pairs)} values; at most {MAX_LIST_VALUES} are accepted",
                             argument=argument)
    seen: set[records.CaseClass] = set()
    catalogue = load_catalogue()
    for kind, code in pairs:
        if (kind, code) in seen:
            raise UserInputError(f"{argument} names {{kind: {kind.value}, code: {shown(code)}}} more than once",
                                 argument=argument)
        seen.add((kind, code))
        if _catalogue_entry(catalogue, kind, code) is None:
            other = next((k for k in records.EventKind if k is not kind and _catalogue_entry(catalogue, k, code)), None)
            hint = f" (it is {CATALOGUE_NAMES[other][0]} code: kind {other.value})" if other is not None else ""
            what, listing = CATALOGUE_NAMES[kind]
            raise UserInputError(f"{argument}: {shown(code)} is not {what} code{hint}; see `{listing}`",
                                 argument=argument)
    return tuple(pairs)


def _identifiers(values: list[str] | None, argument: str, pattern: re.Pattern[str], what: str
                 ) -> tuple[str, ...] | None:
    if values is None:
        return None
    check_list(values, argument)
    bad = [v for v in values if not v.isascii() or pattern.fullmatch(v) is None]
    if bad:
        raise UserInputError(f"{argument}: {_shown_list(bad)} not {what}", argument=argument)
    return tuple(values)


def parse_departments(values: list[str] | None, argument: str = "departments") -> tuple[str, ...] | None:
    """Department ids by shape; whether each is joined to the platform is checked against the connectors."""
    return _identifiers(values, argument, DEPARTMENT_ID, "a department id (lower-case letters, digits and _, "
                                                         "as in `departments { id }`: water, citymgmt …)")


def parse_metrics(values: list[str] | None, argument: str = "metric") -> tuple[str, ...] | None:
    return _identifiers(values, argument, METRIC, "a metric name (lower-case letters, digits and _: pressure, "
                                                  "turbidity, ph, aqi …)")


def parse_bbox(value: BBoxInput | None) -> records.BBox | None:
    if value is None:
        return None
    box = records.BBox(value.min_lng, value.min_lat, value.max_lng, value.max_lat)
    if not (-180 <= box.min_lng <= box.max_lng <= 180 and -90 <= box.min_lat <= box.max_lat <= 90):
        raise UserInputError("bbox must have -180 ≤ minLng ≤ maxLng ≤ 180 and -90 ≤ minLat ≤ maxLat ≤ 90",
                             argument="bbox")
    return box


def parse_near(value: NearInput | None) -> records.Near | None:
    if value is None:
        return None
    if not (-180 <= value.lng <= 180 and -90 <= value.lat <= 90):
        raise UserInputError("near: lng must be within ±180 and lat within ±90", argument="near")
    if not (0 < value.radius_m <= MAX_NEAR_RADIUS_M) or math.isnan(value.radius_m):
        raise UserInputError(f"near.radiusM must be within (0, {MAX_NEAR_RADIUS_M:g}] metres", argument="near")
    return records.Near(value.lng, value.lat, value.radius_m)


def _enum_tuple(values: list[ComponentStatus] | list[EventStatus] | list[EventSource] | list[AlertLevel] | None,
                record_enum: type[records.ComponentStatus] | type[records.EventStatus] | type[records.EventSource]
                | type[records.AlertLevel], argument: str) -> tuple[records.ComponentStatus, ...] | None:
    if values is None:
        return None
    check_list(values, argument)
    return tuple(record_enum(v.value) for v in values)  # type: ignore[misc]


def check_time(value: datetime | None, argument: str, now: datetime | None = None) -> None:
    """A time with a UTC offset between ``EARLIEST_TIME`` and ``MAX_TIME_AHEAD`` from now.

    A time without an offset is refused, not guessed: read as UTC or as Beijing time it would be 8 hours apart."""
    if value is None:
        return
    if value.tzinfo is None or value.utcoffset() is None:
        raise UserInputError(f"{argument}: give the time with a UTC offset, e.g. 2026-11-01T08:00:00+08:00",
                             argument=argument)
    latest = (now or datetime.now(CHINA_TZ)) + MAX_TIME_AHEAD
    if not EARLIEST_TIME <= value <= latest:
        raise UserInputError(f"{argument} must lie between {EARLIEST_TIME.date()} (digital city management began in "
                             f"2004) and {latest.date()}, got {value.isoformat()}", argument=argument)


def check_window(start: datetime | None, end: datetime | None, start_argument: str, end_argument: str,
                 now: datetime | None = None) -> None:
    check_time(start, start_argument, now)
    check_time(end, end_argument, now)
    if start is not None and end is not None and start > end:
        raise UserInputError(f"{start_argument} ({start.isoformat()}) is after {end_argument} ({end.isoformat()})",
                             argument=start_argument)


def region_arguments(*named: tuple[str, str | None]) -> tuple[RegionArgument, ...]:
    """The (argument, region prefix) pairs of the arguments given, for ``gateway.scoping.scoped_region``."""
    return tuple(RegionArgument(argument, prefix) for argument, prefix in named if prefix is not None)


def component_query(value: ComponentFilter | None) -> tuple[records.ComponentQuery, SearchScope]:
    value = value or ComponentFilter()
    grid = parse_grid(value.grid_code)
    query = records.ComponentQuery(
        grid_code=grid,
        class_codes=parse_component_classes(value.class_codes),
        statuses=_enum_tuple(value.status, records.ComponentStatus, "status"),
        bbox=parse_bbox(value.bbox),
        near=parse_near(value.near),
    )
    regions = region_arguments(("regionCode", parse_region(value.region_code)),
                       ("gridCode", region_of(grid) if grid is not None else None))
    return query, SearchScope(regions=regions, departments=parse_departments(value.departments))


def event_query(value: EventFilter | None) -> tuple[records.EventQuery, SearchScope]:
    value = value or EventFilter()
    grid = parse_grid(value.grid_code)
    component_id = parse_component_id(value.component_id, "componentId") if value.component_id is not None else None
    check_window(value.reported_from, value.reported_to, "reportedFrom", "reportedTo")
    query = records.EventQuery(
        grid_code=grid,
        classes=parse_case_classes(value.classes),
        statuses=_enum_tuple(value.status, records.EventStatus, "status"),  # type: ignore[arg-type]
        sources=_enum_tuple(value.source, records.EventSource, "source"),  # type: ignore[arg-type]
        component_ids=(component_id,) if component_id is not None else None,
        reported_from=value.reported_from,
        reported_to=value.reported_to,
        bbox=parse_bbox(value.bbox),
        near=parse_near(value.near),
    )
    regions = region_arguments(("regionCode", parse_region(value.region_code)),
                       ("gridCode", region_of(grid) if grid is not None else None),
                       ("componentId", region_of(component_id) if component_id is not None else None))
    return query, SearchScope(regions=regions)


def alert_query(value: AlertFilter | None) -> tuple[records.AlertQuery, SearchScope]:
    value = value or AlertFilter()
    component_id = parse_component_id(value.component_id, "componentId") if value.component_id is not None else None
    check_window(value.raised_from, value.raised_to, "raisedFrom", "raisedTo")
    query = records.AlertQuery(
        component_ids=(component_id,) if component_id is not None else None,
        levels=_enum_tuple(value.level, records.AlertLevel, "level"),  # type: ignore[arg-type]
        metrics=parse_metrics(value.metric),
        raised_from=value.raised_from,
        raised_to=value.raised_to,
    )
    regions = region_arguments(("regionCode", parse_region(value.region_code)),
                       ("componentId", region_of(component_id) if component_id is not None else None))
    return query, SearchScope(regions=regions)
