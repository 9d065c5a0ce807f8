"""GraphQL enums: English names, the Chinese term in each description."""

from __future__ import annotations

from enum import Enum

import strawberry

from connectors import records


@strawberry.enum(description="部件状态 — condition of a city component")
class ComponentStatus(Enum):
    INTACT = strawberry.enum_value("INTACT", description="完好")
    DAMAGED = strawberry.enum_value("DAMAGED", description="破损")
    MISSING = strawberry.enum_value("MISSING", description="丢失")
    OCCUPIED = strawberry.enum_value("OCCUPIED", description="占用")
    RETIRED = strawberry.enum_value("RETIRED", description="废弃")


@strawberry.enum(description="案卷状态 — case workflow state (信息收集→受理→立案→派遣→处置→核查→结案)")
class EventStatus(Enum):
    PENDING_ACCEPTANCE = strawberry.enum_value("PENDING_ACCEPTANCE", description="待受理")
    REGISTERED = strawberry.enum_value("REGISTERED", description="立案未移交 — registered, not yet dispatched")
    DISPATCHED = strawberry.enum_value("DISPATCHED", description="立案派遣 — dispatched to the handling department")
    IN_PROGRESS = strawberry.enum_value("IN_PROGRESS", description="处理中 — being handled")
    VERIFYING = strawberry.enum_value("VERIFYING", description="核查结案 — handled, inspector re-checking")
    CLOSED = strawberry.enum_value("CLOSED", description="结案")
    VOIDED = strawberry.enum_value("VOIDED", description="作废")
    POSTPONED = strawberry.enum_value("POSTPONED", description="缓办 — postponed")
    SUPERVISED = strawberry.enum_value("SUPERVISED", description="督查 — under supervision")


@strawberry.enum(description="问题来源 — how the case came in")
class EventSource(Enum):
    INSPECTOR = strawberry.enum_value("INSPECTOR", description="监督员上报")
    PUBLIC_REPORT = strawberry.enum_value("PUBLIC_REPORT", description="公众举报")
    HOTLINE_12345 = strawberry.enum_value("HOTLINE_12345", description="12345热线")
    SENSOR = strawberry.enum_value("SENSOR", description="传感器 / 物联感知")


@strawberry.enum(description="案卷类型 — component case (部件) or event case (事件)")
class EventKind(Enum):
    COMPONENT = strawberry.enum_value("COMPONENT", description="部件类")
    EVENT = strawberry.enum_value("EVENT", description="事件类")


@strawberry.enum(description="报警级别 — alarm level, most to least severe")
class AlertLevel(Enum):
    RED = strawberry.enum_value("RED", description="一级 (红色)")
    ORANGE = strawberry.enum_value("ORANGE", description="二级 (橙色)")
    YELLOW = strawberry.enum_value("YELLOW", description="三级 (黄色)")
    BLUE = strawberry.enum_value("BLUE", description="四级 (蓝色)")


COMPONENT_STATUS = {member.value: ComponentStatus(member.value) for member in records.ComponentStatus}
EVENT_STATUS = {member.value: EventStatus(member.value) for member in records.EventStatus}
EVENT_SOURCE = {member.value: EventSource(member.value) for member in records.EventSource}
EVENT_KIND = {member.value: EventKind(member.value) for member in records.EventKind}
ALERT_LEVEL = {member.value: AlertLevel(member.value) for member in records.AlertLevel}
