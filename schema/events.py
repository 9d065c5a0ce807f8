"""城市事件 — cases (案卷) of the 数字城管 workflow and monitoring alarms (运行监测报警)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from connectors.records import AlertRecord, EventKind, EventRecord, EventStatus
from gateway.context import loaded
from schema.codes import ClassEntry, load_catalogue
from schema.common import EventClass, GeoPoint, event_class, geo_point
from schema.components import Component, build_component
from schema.directives import PolicyMasked
from schema.enums import ALERT_LEVEL, EVENT_KIND, EVENT_SOURCE, EVENT_STATUS, AlertLevel
from schema.enums import EventSource as EventSourceEnum
from schema.enums import EventStatus as EventStatusEnum


async def _component(info: strawberry.Info, component_id: str | None) -> Component | None:
    if component_id is None:
        return None
    record = await loaded(info, info.context.joins.component(component_id), None)
    return build_component(record) if record is not None else None


@strawberry.type(description="案卷 — a case in the city-management workflow (信息收集→受理→立案→派遣→处置→核查→结案)")
class CityEvent:
    id: strawberry.ID = strawberry.field(description="案卷编号")
    event_class: EventClass = strawberry.field(
        description="问题类别 — the component class for 部件 cases, the event class for 事件 cases")
    source: EventSourceEnum = strawberry.field(description="问题来源")
    status: EventStatusEnum = strawberry.field(description="案卷状态")
    description: str = strawberry.field(description="问题描述")
    address: str = strawberry.field(description="发生地址")
    location: GeoPoint = strawberry.field(description="位置 (WGS-84 / CGCS2000)")
    region_code: str = strawberry.field(description="行政区划代码 (GB/T 2260)")
    grid_code: str = strawberry.field(description="单元网格代码 (15 digits)")
    component_id: str | None = strawberry.field(description="部件标识码 of the component the case is about")
    handling_department: str | None = strawberry.field(description="处置部门 — department the case is dispatched to")
    reported_at: datetime = strawberry.field(description="上报时间")
    deadline: datetime | None = strawberry.field(description="处置时限 — handling deadline")
    closed_at: datetime | None = strawberry.field(description="结案时间")
    overdue: bool = strawberry.field(description="超期 — past its deadline (closed late, or still open after it)")
    reporter_name: str | None = strawberry.field(description="上报人 (personal data)", extensions=[PolicyMasked()])
    reporter_phone: str | None = strawberry.field(description="联系电话 (personal data)",
                                                  extensions=[PolicyMasked()])

    @strawberry.field(description="The component the case is about, from the department that owns it")
    async def component(self, info: strawberry.Info) -> Component | None:
        return await _component(info, self.component_id)


@strawberry.type(description="运行监测报警 — an alarm raised from a department's reading over its threshold")
class Alert:
    id: strawberry.ID = strawberry.field(description="报警编号")
    component_id: str = strawberry.field(description="部件标识码 of the monitored component")
    metric: str = strawberry.field(description="监测指标 (pressure, turbidity, ph, aqi …)")
    value: float = strawberry.field(description="监测值, in `unit`")
    unit: str = strawberry.field(description="单位 (MPa, NTU, mg/L, cm, µg/m³ …)")
    threshold: float = strawberry.field(description="阈值 crossed")
    level: AlertLevel = strawberry.field(description="报警级别")
    raised_at: datetime = strawberry.field(description="报警时间")
    department: str = strawberry.field(description="id of the department whose reading raised it")
    region_code: str = strawberry.field(description="行政区划代码")

    @strawberry.field(description="The monitored component")
    async def component(self, info: strawberry.Info) -> Component | None:
        return await _component(info, self.component_id)


_event_class_cache: dict[tuple[str, str], EventClass] = {}


def class_of_event(kind: EventKind, code: str) -> EventClass:
    cached = _event_class_cache.get((kind.value, code))
    if cached is None:
        catalogue = load_catalogue()
        entry = catalogue.component_class(code) if kind is EventKind.COMPONENT else catalogue.event_class(code)
        cached = event_class(EVENT_KIND[kind.value], entry or ClassEntry(code, code, code[:2], ""))
        _event_class_cache[(kind.value, code)] = cached
    return cached


def is_overdue(record: EventRecord, now: datetime) -> bool:
    if record.deadline is None or record.status is EventStatus.VOIDED:
        return False
    return (record.closed_at or now) > record.deadline


def build_event(record: EventRecord, now: datetime) -> CityEvent:
    return CityEvent(
        id=strawberry.ID(record.id),
        event_class=class_of_event(record.kind, record.class_code),
        source=EVENT_SOURCE[record.source.value],
        status=EVENT_STATUS[record.status.value],
        description=record.description,
        address=record.address,
        location=geo_point(record.lng, record.lat),
        region_code=record.region_code,
        grid_code=record.grid_code,
        component_id=record.component_id,
        handling_department=record.handling_department,
        reported_at=record.reported_at,
        deadline=record.deadline,
        closed_at=record.closed_at,
        overdue=is_overdue(record, now),
        reporter_name=record.reporter_name,
        reporter_phone=record.reporter_phone,
    )


def build_alert(record: AlertRecord) -> Alert:
    return Alert(
        id=strawberry.ID(record.id),
        component_id=record.component_id,
        metric=record.metric,
        value=record.value,
        unit=record.unit,
        threshold=record.threshold,
        level=ALERT_LEVEL[record.level.value],
        raised_at=record.raised_at,
        department=record.department_id,
        region_code=record.region_code,
    )
