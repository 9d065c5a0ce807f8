"""The normalised records every connector returns, and the queries the gateway hands them.

Records are in the platform's terms whatever the department speaks: WGS-84/CGCS2000 coordinates, SI-ish units named
in the field (``pressure_mpa``), the national status vocabularies and 16-digit 部件标识码. Class-specific fields go in
``attributes`` under the snake_case names listed in ``connectors.catalogue.ATTRIBUTE_FIELDS``; the schema reads them
from there. Components whose costly fields are translated on first read: ``connectors.deferred``; the evaluation
counts a statistics query answers: ``connectors.statistics``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar


class ComponentStatus(StrEnum):
    INTACT = "INTACT"  # 完好
    DAMAGED = "DAMAGED"  # 破损
    MISSING = "MISSING"  # 丢失
    OCCUPIED = "OCCUPIED"  # 占用
    RETIRED = "RETIRED"  # 废弃


class EventStatus(StrEnum):
    """Case workflow states (domain.md §4), in the vocabulary of deployed 数字城管 systems."""

    PENDING_ACCEPTANCE = "PENDING_ACCEPTANCE"  # 待受理
    REGISTERED = "REGISTERED"  # 立案未移交
    DISPATCHED = "DISPATCHED"  # 立案派遣
    IN_PROGRESS = "IN_PROGRESS"  # 处理中
    VERIFYING = "VERIFYING"  # 核查结案
    CLOSED = "CLOSED"  # 结案
    VOIDED = "VOIDED"  # 作废
    POSTPONED = "POSTPONED"  # 缓办
    SUPERVISED = "SUPERVISED"  # 督查


class EventSource(StrEnum):
    INSPECTOR = "INSPECTOR"  # 监督员上报
    PUBLIC_REPORT = "PUBLIC_REPORT"  # 公众举报
    HOTLINE_12345 = "HOTLINE_12345"  # 12345热线
    SENSOR = "SENSOR"  # 传感器


class EventKind(StrEnum):
    COMPONENT = "COMPONENT"  # 部件类案卷
    EVENT = "EVENT"  # 事件类案卷


# A case class (问题类别): GB/T 30428.2 keeps a 部件 and an 事件 catalogue that reuse the same 4-digit 小类 numbers
# (0102 污水井盖 / 暴露垃圾), so a case class is the pair (kind, code), never the code alone. A plain tuple, so that it
# sorts, hashes and round-trips through the cache codec as it is.
CaseClass = tuple[EventKind, str]


class AlertLevel(StrEnum):
    RED = "RED"  # 一级
    ORANGE = "ORANGE"  # 二级
    YELLOW = "YELLOW"  # 三级
    BLUE = "BLUE"  # 四级


@dataclass(frozen=True, slots=True)
class Organization:
    name: str
    credit_code: str | None = None  # 18-character 统一社会信用代码


@dataclass(slots=True)
class ComponentRecord:
    id: str
    class_code: str
    name: str
    status: ComponentStatus
    region_code: str
    grid_code: str
    lng: float
    lat: float
    department_id: str
    department_name: str  # 主管部门
    owner: Organization | None
    maintainer: Organization | None
    updated_at: datetime
    attributes: Mapping[str, Any] = field(default_factory=dict)


COMPONENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ComponentRecord))


@dataclass(slots=True)
class EventRecord:
    id: str
    kind: EventKind
    class_code: str  # 部件小类 for COMPONENT cases, 事件小类 for EVENT cases
    source: EventSource
    status: EventStatus
    description: str
    address: str
    lng: float
    lat: float
    region_code: str
    grid_code: str
    component_id: str | None
    handling_department: str | None
    reported_at: datetime
    deadline: datetime | None
    closed_at: datetime | None
    reporter_name: str | None
    reporter_phone: str | None


@dataclass(slots=True)
class AlertRecord:
    id: str
    component_id: str
    metric: str
    value: float
    unit: str
    threshold: float
    level: AlertLevel
    raised_at: datetime
    department_id: str
    region_code: str


@dataclass(frozen=True, slots=True)
class BBox:
    """WGS-84 bounding box."""

    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float

    def contains(self, lng: float, lat: float) -> bool:
        return self.min_lng <= lng <= self.max_lng and self.min_lat <= lat <= self.max_lat


@dataclass(frozen=True, slots=True)
class Near:
    """WGS-84 centre and radius in metres."""

    lng: float
    lat: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class ComponentQuery:
    """What the gateway asks a connector for. ``None`` means no constraint.

    ``region_codes`` are concrete 6-digit districts the connector serves (the router has already intersected the
    caller's prefix filter with the connector's regions).
    """

    region_codes: tuple[str, ...] | None = None
    grid_code: str | None = None
    class_codes: tuple[str, ...] | None = None
    statuses: tuple[ComponentStatus, ...] | None = None
    bbox: BBox | None = None
    near: Near | None = None


@dataclass(frozen=True, slots=True)
class EventQuery:
    """``classes`` are (kind, 小类) pairs: (COMPONENT, "0102") 污水井盖 cases, (EVENT, "0102") 暴露垃圾 cases."""

    region_codes: tuple[str, ...] | None = None
    grid_code: str | None = None
    classes: tuple[CaseClass, ...] | None = None
    statuses: tuple[EventStatus, ...] | None = None
    sources: tuple[EventSource, ...] | None = None
    component_ids: tuple[str, ...] | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    bbox: BBox | None = None
    near: Near | None = None


@dataclass(frozen=True, slots=True)
class AlertQuery:
    region_codes: tuple[str, ...] | None = None
    component_ids: tuple[str, ...] | None = None
    levels: tuple[AlertLevel, ...] | None = None
    metrics: tuple[str, ...] | None = None
    raised_from: datetime | None = None
    raised_to: datetime | None = None


RecordT = TypeVar("RecordT")


@dataclass(slots=True)
class SearchPage(Generic[RecordT]):
    """One page of a department's answer, in the department's own order (ascending id).

    ``positions[i]`` is an opaque resume position meaning "everything after items[i]"; passing it back as ``after``
    continues from there. ``total`` counts all matches of the query, not just this page.
    """

    items: list[RecordT]
    positions: list[str]
    total: int
    has_more: bool
