"""Filter inputs, and their validation into connector queries. Every rejection is a ``UserInputError``
(``BAD_USER_INPUT``) naming the argument and what would be accepted."""

from __future__ import annotations

import math
from datetime import datetime

import strawberry

from connectors import records
from gateway.context import Scope
from gateway.exceptions import UserInputError
from schema.codes import is_grid_code, is_region_code, is_region_prefix, load_catalogue, region_prefix
from schema.enums import AlertLevel, ComponentStatus, EventSource, EventStatus

MAX_NEAR_RADIUS_M = 50_000.0


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


@strawberry.input(description="Which cases to list")
class EventFilter:
    region_code: str | None = strawberry.field(default=None, description="行政区划 code or prefix")
    grid_code: str | None = strawberry.field(default=None, description="单元网格代码")
    class_codes: list[str] | None = strawberry.field(default=None, description="部件 or 事件 小类 codes")
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


def parse_region(value: str | None, argument: str = "regionCode") -> str | None:
    if value is None:
        return None
    if is_region_code(value):
        return region_prefix(value)
    if is_region_prefix(value):
        return value
    raise UserInputError(f"{argument} must be a GB/T 2260 division code or its 2/4/6-digit prefix, got {value!r}",
                         argument=argument)


def parse_grid(value: str | None) -> str | None:
    if value is not None and not is_grid_code(value):
        raise UserInputError(f"gridCode must be a 15-digit 单元网格 code, got {value!r}", argument="gridCode")
    return value


def parse_component_id(value: str, argument: str = "id") -> str:
    from schema.codes import component_class_of, is_component_id

    if not is_component_id(value):
        raise UserInputError(
            f"{argument} must be a 16-digit 部件标识码 (6 区划 + 2 大类 + 2 小类 + 6 序号), got {value!r} "
            f"({len(value)} characters)", argument=argument)
    if load_catalogue().component_class(component_class_of(value)) is None:
        raise UserInputError(f"{argument} {value!r} names component class {component_class_of(value)!r}, "
                             "which is not in the code catalogue", argument=argument)
    return value


def parse_component_classes(values: list[str] | None, argument: str = "classCodes") -> tuple[str, ...] | None:
    if values is None:
        return None
    catalogue = load_catalogue()
    unknown = [v for v in values if catalogue.component_class(v) is None]
    if unknown:
        raise UserInputError(f"{argument}: unknown 部件小类 code(s) {unknown}; see `componentClasses`",
                             argument=argument)
    return tuple(dict.fromkeys(values))


def parse_case_classes(values: list[str] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    catalogue = load_catalogue()
    unknown = [v for v in values if catalogue.component_class(v) is None and catalogue.event_class(v) is None]
    if unknown:
        raise UserInputError(f"classCodes: unknown 部件/事件 小类 code(s) {unknown}; see `componentClasses` and "
                             "`eventClasses`", argument="classCodes")
    return tuple(dict.fromkeys(values))


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
                | type[records.AlertLevel]) -> tuple[records.ComponentStatus, ...] | None:
    if values is None:
        return None
    return tuple(dict.fromkeys(record_enum(v.value) for v in values))  # type: ignore[misc]


def _time_range(start: datetime | None, end: datetime | None, argument: str) -> None:
    for value in (start, end):
        if value is not None and value.tzinfo is None:
            raise UserInputError(f"{argument}: give times with a UTC offset, e.g. 2026-11-01T08:00:00+08:00",
                                 argument=argument)
    if start is not None and end is not None and start > end:
        raise UserInputError(f"{argument}: the start is after the end", argument=argument)


def component_query(value: ComponentFilter | None) -> tuple[records.ComponentQuery, Scope]:
    value = value or ComponentFilter()
    grid = parse_grid(value.grid_code)
    prefix = parse_region(value.region_code)
    if grid is not None:
        if prefix is not None and not grid.startswith(prefix):
            raise UserInputError("gridCode lies outside regionCode", argument="gridCode")
        prefix = grid[:6]
    query = records.ComponentQuery(
        grid_code=grid,
        class_codes=parse_component_classes(value.class_codes),
        statuses=_enum_tuple(value.status, records.ComponentStatus),
        bbox=parse_bbox(value.bbox),
        near=parse_near(value.near),
    )
    departments = tuple(value.departments) if value.departments is not None else None
    return query, Scope(region_prefix=prefix, departments=departments)


def event_query(value: EventFilter | None) -> tuple[records.EventQuery, Scope]:
    value = value or EventFilter()
    grid = parse_grid(value.grid_code)
    prefix = parse_region(value.region_code)
    if grid is not None:
        prefix = grid[:6]
    _time_range(value.reported_from, value.reported_to, "reportedFrom/reportedTo")
    query = records.EventQuery(
        grid_code=grid,
        class_codes=parse_case_classes(value.class_codes),
        statuses=_enum_tuple(value.status, records.EventStatus),  # type: ignore[arg-type]
        sources=_enum_tuple(value.source, records.EventSource),  # type: ignore[arg-type]
        component_ids=(parse_component_id(value.component_id, "componentId"),) if value.component_id else None,
        reported_from=value.reported_from,
        reported_to=value.reported_to,
        bbox=parse_bbox(value.bbox),
        near=parse_near(value.near),
    )
    return query, Scope(region_prefix=prefix)


def alert_query(value: AlertFilter | None) -> tuple[records.AlertQuery, Scope]:
    value = value or AlertFilter()
    _time_range(value.raised_from, value.raised_to, "raisedFrom/raisedTo")
    query = records.AlertQuery(
        component_ids=(parse_component_id(value.component_id, "componentId"),) if value.component_id else None,
        levels=_enum_tuple(value.level, records.AlertLevel),  # type: ignore[arg-type]
        metrics=tuple(value.metric) if value.metric is not None else None,
        raised_from=value.raised_from,
        raised_to=value.raised_to,
    )
    return query, Scope(region_prefix=parse_region(value.region_code))
