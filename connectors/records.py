"""The normalised records every connector returns, and the queries the gateway hands them.

Records are in the platform's terms whatever the department speaks: WGS-84/CGCS2000 coordinates, SI-ish units named
in the field (``pressure_mpa``), the national status vocabularies and 16-digit 部件标识码. Class-specific fields go in
``attributes`` under the snake_case names listed in ``ATTRIBUTE_FIELDS``; the schema reads them from there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def _deferred(name: str, translate: str, done: int) -> Any:
    """A field of ``DeferredComponentRecord`` kept in ``ComponentRecord``'s slot, filled by ``translate`` on first
    read; ``done`` is the bit of ``_translated`` that says ``translate`` has run (a bit test costs less than a
    sentinel per field set at creation, or an AttributeError caught at the first read)."""
    slot = ComponentRecord.__dict__[name]  # the dataclass slot's member descriptor
    get, set_ = slot.__get__, slot.__set__

    def read(self: DeferredComponentRecord) -> Any:
        if not self._translated & done:
            getattr(self, translate)()
            self._translated |= done
        return get(self, ComponentRecord)

    return property(read, set_, doc=f"{name}, translated from the department's row when first read")


_LOCATION, _ORGANIZATIONS, _ATTRIBUTES = 1, 2, 4


class DeferredComponentRecord(ComponentRecord):
    """A ``ComponentRecord`` whose costly fields — the location (a datum conversion), the organisations and the
    class attributes — are translated from the department's ``row`` when first read.

    A query selects a few fields of each component, so a connector translates eagerly only what the gateway itself
    needs (id, class, region, status, names, times) and checks the rest's types; a subclass implements
    ``translate_location``, ``translate_organizations`` and ``translate_attributes``, each setting its fields.
    It equals the ``ComponentRecord`` with the same values, and ``resolved()`` is that record.
    """

    __slots__ = ("_translated", "row")
    row: Any
    _translated: int  # bits of the translate methods that have run

    lng = _deferred("lng", "translate_location", _LOCATION)
    lat = _deferred("lat", "translate_location", _LOCATION)
    owner = _deferred("owner", "translate_organizations", _ORGANIZATIONS)
    maintainer = _deferred("maintainer", "translate_organizations", _ORGANIZATIONS)
    attributes = _deferred("attributes", "translate_attributes", _ATTRIBUTES)

    def __init__(self, row: Any) -> None:
        """Subclasses set the eager fields after this."""
        self.row = row
        self._translated = 0

    def translate_location(self) -> None:
        raise NotImplementedError

    def translate_organizations(self) -> None:
        raise NotImplementedError

    def translate_attributes(self) -> None:
        raise NotImplementedError

    def resolved(self) -> ComponentRecord:
        return ComponentRecord(**{name: getattr(self, name) for name in COMPONENT_FIELDS})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ComponentRecord):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in COMPONENT_FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Deferred{self.resolved()!r}"


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


# Class-specific attribute names (snake_case) per concrete schema type, and the class codes each type covers.
# Readings are the latest observation in normalised units; ``reading_at`` is when it was observed.
ATTRIBUTE_FIELDS: dict[str, tuple[str, ...]] = {
    "ManholeCover": ("material", "shape", "diameter_mm"),
    "Hydrant": ("hydrant_type", "outlet_diameter_mm", "pressure_mpa", "reading_at"),
    "WaterPressurePoint": ("pipe_diameter_mm", "pressure_mpa", "flow_m3h", "reading_at"),
    "WaterQualityStation": ("sampling_point", "turbidity_ntu", "ph", "residual_chlorine_mgl", "reading_at"),
    "FloodingPoint": ("warning_depth_cm", "ponding_depth_cm", "water_level_m", "rainfall_mm", "reading_at"),
    "BusStop": ("routes", "has_shelter"),
    "TrafficSignal": ("intersection", "control_mode", "phase_count", "online"),
    "ParkingLot": ("capacity", "available_spaces", "fee_per_hour_yuan", "reading_at"),
    "AirQualityStation": ("aqi", "primary_pollutants", "pm25", "pm10", "so2", "no2", "o3", "co", "reading_at",
                          "hourly"),
    "ConstructionSite": ("permit_number", "contractor", "start_date", "planned_end_date", "pm10", "noise_db",
                         "reading_at"),
    "Building": ("address", "floors", "height_m", "year_built", "structure", "usage"),
}

TYPE_BY_CLASS: dict[str, str] = {
    **dict.fromkeys(("0101", "0102", "0103", "0105", "0106", "0107", "0108", "0110", "0111"), "ManholeCover"),
    "0113": "Hydrant",
    "2141": "WaterPressurePoint",
    "2142": "WaterQualityStation",
    "2143": "FloodingPoint",
    "0203": "BusStop",
    "0210": "TrafficSignal",
    "0201": "ParkingLot",
    "0308": "AirQualityStation",
    "0602": "ConstructionSite",
    "2150": "Building",
}


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


@dataclass(slots=True)
class RegionStats:
    """Evaluation counts (综合评价, domain.md §4) of one region over a time window: raw counts and sums, never rates.

    Counts are over cases REPORTED in the window (both bounds inclusive) and alerts RAISED in it, inside the region
    (definitions in ``mocks.citymgmt_stats``): ``to_handle`` 应处置 (DISPATCHED, IN_PROGRESS, VERIFYING, CLOSED,
    SUPERVISED), ``handled`` 已处置 (VERIFYING, CLOSED), ``handled_on_time`` 按期处置 (handled no later than the
    deadline), ``to_close`` 应结案 (应处置 plus REGISTERED), ``closed`` 结案, ``closed_on_time`` 按期结案, ``reworked``
    返工 (应结案 cases sent back from 核查 at least once), ``extended`` 延期 (应处置 cases with an approved extension),
    ``handling_hours_sum`` the sum of closed_at - reported_at over closed cases. ``by_status`` and ``alerts_by_level``
    hold every key of their enum (zeros included); ``by_class`` only the classes that occur, keyed by (kind, 小类)
    — the 部件 and 事件 catalogues reuse codes, so counts of one code are never added across kinds. A parent region's
    stats are the sum of its districts' (``merge_region_stats``); rates are derived from the sums.
    """

    region_code: str
    cases_total: int = 0
    to_handle: int = 0
    handled: int = 0
    handled_on_time: int = 0
    to_close: int = 0
    closed: int = 0
    closed_on_time: int = 0
    reworked: int = 0
    extended: int = 0
    handling_hours_sum: float = 0.0
    by_class: dict[CaseClass, int] = field(default_factory=dict)
    by_status: dict[EventStatus, int] = field(default_factory=lambda: dict.fromkeys(EventStatus, 0))
    alerts_by_level: dict[AlertLevel, int] = field(default_factory=lambda: dict.fromkeys(AlertLevel, 0))

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def handling_rate(self) -> float | None:
        """处置率 = handled / to_handle."""
        return self._rate(self.handled, self.to_handle)

    @property
    def handled_on_time_rate(self) -> float | None:
        """按期处置率 = handled_on_time / to_handle."""
        return self._rate(self.handled_on_time, self.to_handle)

    @property
    def closing_rate(self) -> float | None:
        """结案率 = closed / to_close."""
        return self._rate(self.closed, self.to_close)

    @property
    def closed_on_time_rate(self) -> float | None:
        """按期结案率 = closed_on_time / to_close."""
        return self._rate(self.closed_on_time, self.to_close)

    @property
    def rework_rate(self) -> float | None:
        """返工率 = reworked / to_close."""
        return self._rate(self.reworked, self.to_close)

    @property
    def extension_rate(self) -> float | None:
        """延期率 = extended / to_handle."""
        return self._rate(self.extended, self.to_handle)

    @property
    def average_handling_hours(self) -> float | None:
        """平均处置时长 = handling_hours_sum / closed."""
        return self.handling_hours_sum / self.closed if self.closed else None

    @property
    def alerts_total(self) -> int:
        return sum(self.alerts_by_level.values())

    def add(self, other: RegionStats) -> None:
        """Add another region's counts to these (in place); the region code stays."""
        self.cases_total += other.cases_total
        self.to_handle += other.to_handle
        self.handled += other.handled
        self.handled_on_time += other.handled_on_time
        self.to_close += other.to_close
        self.closed += other.closed
        self.closed_on_time += other.closed_on_time
        self.reworked += other.reworked
        self.extended += other.extended
        self.handling_hours_sum += other.handling_hours_sum
        _add_counts(self.by_class, other.by_class)
        _add_counts(self.by_status, other.by_status)
        _add_counts(self.alerts_by_level, other.alerts_by_level)


KeyT = TypeVar("KeyT")


def _add_counts(counts: dict[KeyT, int], more: Mapping[KeyT, int]) -> None:
    for key, count in more.items():
        counts[key] = counts.get(key, 0) + count


def common_region(codes: Iterable[str]) -> str:
    """The smallest GB/T 2260 region holding all the 6-digit codes: itself, the city (xxxx00), the province
    (xx0000) or the country (000000)."""
    distinct = set(codes)
    if not distinct:
        raise ValueError("no region codes")
    for length in (6, 4, 2):
        if len({code[:length] for code in distinct}) == 1:
            return next(iter(distinct))[:length].ljust(6, "0")
    return "000000"


def merge_region_stats(items: Iterable[RegionStats], region_code: str | None = None) -> RegionStats:
    """The sum of several regions' stats, as the stats of ``region_code`` (default: their ``common_region``).

    Districts are expected to be disjoint; summing a region with one of its own districts counts the district twice.
    """
    items = list(items)
    if region_code is None:
        region_code = common_region(item.region_code for item in items)
    total = RegionStats(region_code)
    for item in items:
        total.add(item)
    return total
