"""Small shared output types: location, organisation, class codes, departments, page info."""

from __future__ import annotations

import strawberry

from schema.codes import ClassEntry
from schema.enums import EventKind


@strawberry.type(description="GeoJSON Point in WGS-84 / CGCS2000 (EPSG:4490); department coordinates (GCJ-02, "
                             "BD-09) are converted by the connector")
class GeoPoint:
    type: str = strawberry.field(description="Always `Point`")
    coordinates: list[float] = strawberry.field(description="[longitude, latitude]")
    lng: float = strawberry.field(description="经度 longitude")
    lat: float = strawberry.field(description="纬度 latitude")
    crs: str = strawberry.field(description="Coordinate reference system of the values: `CGCS2000`")


class _Point(GeoPoint):
    """A GeoPoint made of its two numbers (a page of thousands of components builds one per component)."""

    __slots__ = ("lat", "lng")
    type = "Point"  # type: ignore[assignment]
    crs = "CGCS2000"  # type: ignore[assignment]

    @property  # type: ignore[misc]
    def coordinates(self) -> list[float]:  # type: ignore[override]
        return [self.lng, self.lat]


def geo_point(lng: float, lat: float) -> GeoPoint:
    point = _new(_Point)
    point.lng = lng
    point.lat = lat
    return point


_new = object.__new__


@strawberry.type(description="单位 — an organisation, identified by its 统一社会信用代码")
class Organization:
    name: str = strawberry.field(description="单位名称")
    credit_code: str | None = strawberry.field(description="统一社会信用代码 (18 characters)")


@strawberry.type(description="部件类别 — component class: 小类 code with its 大类")
class ComponentClass:
    code: str = strawberry.field(description="小类代码 (4 digits, e.g. 0101 上水井盖)")
    name: str = strawberry.field(description="小类名称")
    major_code: str = strawberry.field(description="大类代码 (2 digits, e.g. 01 公用设施)")
    major_name: str = strawberry.field(description="大类名称")


@strawberry.type(description="问题类别 — the class of a case: a component class (部件) or an event class (事件)")
class EventClass:
    kind: EventKind = strawberry.field(description="部件 or 事件")
    code: str = strawberry.field(description="小类代码 (4 digits)")
    name: str = strawberry.field(description="小类名称")
    major_code: str = strawberry.field(description="大类代码")
    major_name: str = strawberry.field(description="大类名称")


def component_class(entry: ClassEntry) -> ComponentClass:
    return ComponentClass(code=entry.code, name=entry.name, major_code=entry.major_code, major_name=entry.major_name)


def event_class(kind: EventKind, entry: ClassEntry) -> EventClass:
    return EventClass(kind=kind, code=entry.code, name=entry.name, major_code=entry.major_code,
                      major_name=entry.major_name)


@strawberry.type(description="Relay page info")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
