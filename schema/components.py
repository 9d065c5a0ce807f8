"""城市部件 — the Component interface, one concrete type per class the departments serve, and the record mapping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from connectors.catalogue import ATTRIBUTE_FIELDS, TYPE_BY_CLASS
from connectors.records import ComponentRecord
from connectors.records import Organization as OrganizationRecord
from gateway.context import loaded
from gateway.execution import RECORD_READERS
from schema.codes import ClassEntry, load_catalogue
from schema.common import ComponentClass, GeoPoint, Organization, component_class, geo_point
from schema.enums import COMPONENT_STATUS, ComponentStatus

if TYPE_CHECKING:
    from schema.events import Alert, CityEvent

DEFAULT_RELATED_LIMIT = 20
MAX_RELATED_LIMIT = 500


@strawberry.interface(description="城市部件 — a city component: a physical asset on the street, identified by its "
                                  "16-digit 部件标识码 and served by the department system in charge of it")
class Component:
    id: strawberry.ID = strawberry.field(description="部件标识码 — 16 digits: 6 行政区划 + 2 大类 + 2 小类 + 6 序号")
    component_class: ComponentClass = strawberry.field(description="部件类别 — 大类/小类")
    name: str = strawberry.field(description="部件名称")
    status: ComponentStatus = strawberry.field(description="部件状态")
    region_code: str = strawberry.field(description="行政区划代码 (GB/T 2260, 6 digits)")
    grid_code: str = strawberry.field(description="单元网格代码 (15 digits)")
    location: GeoPoint = strawberry.field(description="位置 (WGS-84 / CGCS2000)")
    department: str = strawberry.field(
        description="主管部门 — id of the department system in charge (water, transport, environment, housing …)")
    authority: str = strawberry.field(description="主管部门名称 — name of the department in charge")
    owner: Organization | None = strawberry.field(description="权属单位")
    maintainer: Organization | None = strawberry.field(description="养护单位")
    updated_at: datetime = strawberry.field(description="变更日期 — last change in the department's register")

    @strawberry.field(description="案卷 — cases about this component, newest first")
    async def events(self, info: strawberry.Info, first: int = DEFAULT_RELATED_LIMIT
                     ) -> list[Annotated[CityEvent, strawberry.lazy("schema.events")]]:
        from schema.events import build_event
        from schema.inputs import parse_first

        limit = parse_first(first, MAX_RELATED_LIMIT)
        records = await loaded(info, info.context.joins.events_for_component(self.id), [])
        ordered = sorted(records, key=lambda r: r.reported_at, reverse=True)[:limit]
        return [build_event(r, info.context.now) for r in ordered]

    @strawberry.field(description="运行监测报警 — alarms raised from this component's readings")
    async def alerts(self, info: strawberry.Info) -> list[Annotated[Alert, strawberry.lazy("schema.events")]]:
        from schema.events import build_alert

        return [build_alert(r) for r in await loaded(info, info.context.joins.alerts_for_component(self.id), [])]


@strawberry.type(description="井盖 — manhole cover (0101 上水, 0102 污水, 0103 雨水, 0111 燃气 …)")
class ManholeCover(Component):
    material: str | None = strawberry.field(description="材质")
    shape: str | None = strawberry.field(description="形状")
    diameter_mm: int | None = strawberry.field(description="直径 mm")


@strawberry.type(description="消防栓 — hydrant (0113 消防设施), with the latest pressure reading")
class Hydrant(Component):
    hydrant_type: str | None = strawberry.field(description="类型 (地上式/地下式)")
    outlet_diameter_mm: int | None = strawberry.field(description="出水口径 mm")
    pressure_mpa: float | None = strawberry.field(description="水压 MPa (latest)")
    reading_at: datetime | None = strawberry.field(description="读数时间")


@strawberry.type(description="供水压力监测点 — water-main pressure point (2141, local class)")
class WaterPressurePoint(Component):
    pipe_diameter_mm: int | None = strawberry.field(description="管径 mm")
    pressure_mpa: float | None = strawberry.field(description="压力 MPa (latest)")
    flow_m3h: float | None = strawberry.field(description="瞬时流量 m³/h (latest)")
    reading_at: datetime | None = strawberry.field(description="读数时间")


@strawberry.type(description="水质监测站 — drinking-water quality station (2142, local class; GB 5749-2022)")
class WaterQualityStation(Component):
    sampling_point: str | None = strawberry.field(description=(
        "采样点: 出厂 (leaving the works) or 末梢 (at the tap) — GB 5749-2022 sets free chlorine by it"))
    turbidity_ntu: float | None = strawberry.field(description="浑浊度 NTU (limit 1)")
    ph: float | None = strawberry.field(description="pH (6.5–8.5)")
    residual_chlorine_mgl: float | None = strawberry.field(description=(
        "游离氯 mg/L (GB 5749-2022: 0.3–2 出厂, ≥ 0.05 末梢)"))
    reading_at: datetime | None = strawberry.field(description="读数时间")


@strawberry.type(description="积水监测点 — urban flooding point (2143, local class)")
class FloodingPoint(Component):
    warning_depth_cm: float | None = strawberry.field(description="警戒积水深度 cm")
    ponding_depth_cm: float | None = strawberry.field(description="积水深度 cm (latest)")
    water_level_m: float | None = strawberry.field(description="水位 m (latest)")
    rainfall_mm: float | None = strawberry.field(description="降雨量 mm (latest)")
    reading_at: datetime | None = strawberry.field(description="读数时间")


@strawberry.type(description="公交站亭 — bus stop (0203)")
class BusStop(Component):
    routes: list[str] = strawberry.field(description="途经线路")
    has_shelter: bool | None = strawberry.field(description="是否有候车亭")


@strawberry.type(description="交通信号灯 — traffic signal (0210)")
class TrafficSignal(Component):
    intersection: str | None = strawberry.field(description="路口")
    control_mode: str | None = strawberry.field(description="控制方式 (FIXED_TIME/ACTUATED/ADAPTIVE)")
    phase_count: int | None = strawberry.field(description="相位数")
    online: bool | None = strawberry.field(description="在线")


@strawberry.type(description="停车场 — parking lot (0201) with live occupancy")
class ParkingLot(Component):
    capacity: int | None = strawberry.field(description="泊位总数")
    available_spaces: int | None = strawberry.field(description="空余泊位 (latest)")
    fee_per_hour_yuan: float | None = strawberry.field(description="收费 元/小时")
    reading_at: datetime | None = strawberry.field(description="读数时间")


@strawberry.type(description="空气质量小时数据 — one hourly air-quality observation")
class AirQualityReading:
    at: datetime = strawberry.field(description="观测时间")
    aqi: int | None = strawberry.field(description="AQI (HJ 633-2012): the largest of the six IAQIs")
    primary_pollutants: list[str] | None = strawberry.field(description=(
        "首要污染物 (HJ 633-2012): the pollutants whose IAQI is the AQI, when the AQI is above 50; empty at or below"))
    pm25: float | None = strawberry.field(description="PM2.5 µg/m³")
    pm10: float | None = strawberry.field(description="PM10 µg/m³")
    so2: float | None = strawberry.field(description="SO2 µg/m³")
    no2: float | None = strawberry.field(description="NO2 µg/m³")
    o3: float | None = strawberry.field(description="O3 µg/m³")
    co: float | None = strawberry.field(description="CO mg/m³")


AQI_CATEGORIES = ((50, "优"), (100, "良"), (150, "轻度污染"), (200, "中度污染"), (300, "重度污染"))


def aqi_category(aqi: int | None) -> str | None:
    if aqi is None:
        return None
    for upper, label in AQI_CATEGORIES:
        if aqi <= upper:
            return label
    return "严重污染"


@strawberry.type(description="环境监测站 — air-quality station (0308) with the latest hour and hourly history")
class AirQualityStation(Component):
    aqi: int | None = strawberry.field(description="AQI (latest hour; HJ 633-2012: the largest of the six IAQIs)")
    primary_pollutants: list[str] | None = strawberry.field(description=(
        "首要污染物 of the latest hour (HJ 633-2012), when the AQI is above 50; empty at or below"))
    aqi_category: str | None = strawberry.field(description="空气质量级别 (优/良/轻度污染/中度污染/重度污染/严重污染)")
    pm25: float | None = strawberry.field(description="PM2.5 µg/m³")
    pm10: float | None = strawberry.field(description="PM10 µg/m³")
    so2: float | None = strawberry.field(description="SO2 µg/m³")
    no2: float | None = strawberry.field(description="NO2 µg/m³")
    o3: float | None = strawberry.field(description="O3 µg/m³")
    co: float | None = strawberry.field(description="CO mg/m³")
    reading_at: datetime | None = strawberry.field(description="读数时间")
    hourly: list[AirQualityReading] = strawberry.field(description="小时数据, newest first")


@strawberry.type(description="工地 — construction site (0602) with dust and noise monitoring")
class ConstructionSite(Component):
    permit_number: str | None = strawberry.field(description="施工许可证号")
    contractor: Organization | None = strawberry.field(description="施工单位")
    start_date: date | None = strawberry.field(description="开工日期")
    planned_end_date: date | None = strawberry.field(description="计划竣工日期")
    pm10: float | None = strawberry.field(description="扬尘 PM10 µg/m³ (latest)")
    noise_db: float | None = strawberry.field(description="噪声 dB(A) (latest)")
    reading_at: datetime | None = strawberry.field(description="读数时间")


@strawberry.type(description="房屋建筑 — building (2150, local class)")
class Building(Component):
    address: str | None = strawberry.field(description="地址")
    floors: int | None = strawberry.field(description="地上层数")
    height_m: float | None = strawberry.field(description="建筑高度 m")
    year_built: int | None = strawberry.field(description="建成年份")
    structure: str | None = strawberry.field(description="结构类型")
    usage: str | None = strawberry.field(description="用途")


@strawberry.type(description="其他部件 — a component of a class without a dedicated type; class-specific fields "
                             "are in `attributes`")
class GenericComponent(Component):
    attributes: JSON = strawberry.field(description="类别属性 (JSON object)")


CONCRETE_TYPES: dict[str, type[Component]] = {
    cls.__name__: cls for cls in (ManholeCover, Hydrant, WaterPressurePoint, WaterQualityStation, FloodingPoint,
                                  BusStop, TrafficSignal, ParkingLot, AirQualityStation, ConstructionSite, Building)
}
ALL_COMPONENT_TYPES: tuple[type[Component], ...] = (*CONCRETE_TYPES.values(), GenericComponent)


_organizations: dict[OrganizationRecord, Organization] = {}
MAX_SHARED_ORGANIZATIONS = 10_000


def _organization(value: Any) -> Organization | None:
    if value is None:
        return None
    if isinstance(value, OrganizationRecord):
        # A department names a handful of organisations across thousands of components: share the objects.
        shared = _organizations.get(value)
        if shared is None:
            shared = Organization(name=value.name, credit_code=value.credit_code)
            if len(_organizations) < MAX_SHARED_ORGANIZATIONS:
                _organizations[value] = shared
        return shared
    return Organization(name=value["name"], credit_code=value.get("credit_code"))


def _int(value: Any) -> int | None:
    return None if value is None else round(value)


def _hourly(value: Any) -> list[AirQualityReading]:
    return [AirQualityReading(at=h["at"], aqi=_int(h.get("aqi")), primary_pollutants=h.get("primary_pollutants"),
                              pm25=h.get("pm25"), pm10=h.get("pm10"), so2=h.get("so2"), no2=h.get("no2"),
                              o3=h.get("o3"), co=h.get("co"))
            for h in value or ()]


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "contractor": _organization, "aqi": _int, "hourly": _hourly, "routes": lambda v: list(v or ()),
}
_FIELD_PLANS: dict[str, tuple[tuple[str, Callable[[Any], Any] | None], ...]] = {
    type_name: tuple((name, _CONVERTERS.get(name)) for name in names) for type_name, names in ATTRIBUTE_FIELDS.items()
}
_class_cache: dict[str, ComponentClass] = {}


def class_of(code: str) -> ComponentClass:
    cached = _class_cache.get(code)
    if cached is None:
        entry = load_catalogue().component_class(code) or ClassEntry(code, code, code[:2], "")
        cached = _class_cache[code] = component_class(entry)
    return cached


class _ReadsRecord:
    """A component object that reads each field from its record when the query asks for it.

    A query selects a few of a component's twenty-odd fields; building every field of every object (a GeoPoint, two
    organisations, the class entry, the type's attributes) cost more than completing the list. The deferred classes
    below are undecorated subclasses of the strawberry types, so they resolve to the same GraphQL type; each field
    is a property reading the record through the type's reader.
    """

    __slots__ = ()
    _record: ComponentRecord


def _attribute_reader(name: str, convert: Callable[[Any], Any] | None) -> Callable[[ComponentRecord], Any]:
    if convert is None:
        return lambda record: record.attributes.get(name)
    return lambda record: convert(record.attributes.get(name))


_COMMON_READERS: dict[str, str | Callable[[ComponentRecord], Any]] = {
    "id": "id",
    "component_class": lambda record: class_of(record.class_code),
    "name": "name",
    "status": lambda record: COMPONENT_STATUS[record.status.value],
    "region_code": "region_code",
    "grid_code": "grid_code",
    "location": lambda record: geo_point(record.lng, record.lat),
    "department": "department_id",
    "authority": "department_name",
    "owner": lambda record: _organization(record.owner),
    "maintainer": lambda record: _organization(record.maintainer),
    "updated_at": "updated_at",
}


def _deferred_class(cls: type[Component],
                    readers: dict[str, str | Callable[[ComponentRecord], Any]]) -> type[Component]:
    """``readers``: field name -> the record's attribute of that name, or a function of the record."""
    def field(reader: str | Callable[[ComponentRecord], Any]) -> property:
        if isinstance(reader, str):
            return property(attrgetter(f"_record.{reader}"))
        return property(lambda self: reader(self._record))

    all_readers = {**_COMMON_READERS, **readers}
    namespace: dict[str, Any] = {"__slots__": ("_record",), RECORD_READERS: all_readers}
    namespace.update({name: field(reader) for name, reader in all_readers.items()})
    return type(f"Deferred{cls.__name__}", (_ReadsRecord, cls), namespace)


_EXTRA_READERS: dict[str, dict[str, str | Callable[[ComponentRecord], Any]]] = {
    "AirQualityStation": {"aqi_category": lambda record: aqi_category(_int(record.attributes.get("aqi")))},
}
_DEFERRED_TYPES: dict[str, type[Component]] = {
    type_name: _deferred_class(cls, {**{name: _attribute_reader(name, convert)
                                        for name, convert in _FIELD_PLANS[type_name]},
                                     **_EXTRA_READERS.get(type_name, {})})
    for type_name, cls in CONCRETE_TYPES.items()
}
_DEFERRED_GENERIC = _deferred_class(GenericComponent, {"attributes": lambda record: dict(record.attributes)})


_DEFERRED_BY_CLASS: dict[str, type[Component]] = {
    code: _DEFERRED_TYPES[type_name] for code, type_name in TYPE_BY_CLASS.items()}
# The built-in types plus the types registered specs declare (schema.declared swaps it with the schema).
_deferred_by_class: dict[str, type[Component]] = dict(_DEFERRED_BY_CLASS)
_new_object = object.__new__  # the deferred classes define no __new__: skip looking it up along their bases


def deferred_class(cls: type[Component], readers: dict[str, Callable[[ComponentRecord], Any]]) -> type[Component]:
    """The record-reading class of a strawberry component type whose extra fields are ``readers``."""
    all_readers: dict[str, str | Callable[[ComponentRecord], Any]] = dict(readers)
    return _deferred_class(cls, all_readers)


def use_declared_types(by_class: dict[str, type[Component]]) -> None:
    """Build the components of these classes as these (record-reading) types from now on."""
    global _deferred_by_class
    _deferred_by_class = {**by_class, **_DEFERRED_BY_CLASS}


def build_component(record: ComponentRecord) -> Component:
    """The GraphQL object of a record; its fields are read from the record when selected."""
    component = _new_object(_deferred_by_class.get(record.class_code, _DEFERRED_GENERIC))
    component._record = record  # type: ignore[attr-defined]
    return component


def build_component_eagerly(record: ComponentRecord) -> Component:
    """Every field computed at once (the reference the deferred objects are tested against)."""
    common: dict[str, Any] = {
        "id": record.id,
        "component_class": class_of(record.class_code),
        "name": record.name,
        "status": COMPONENT_STATUS[record.status.value],
        "region_code": record.region_code,
        "grid_code": record.grid_code,
        "location": geo_point(record.lng, record.lat),
        "department": record.department_id,
        "authority": record.department_name,
        "owner": _organization(record.owner),
        "maintainer": _organization(record.maintainer),
        "updated_at": record.updated_at,
    }
    type_name = TYPE_BY_CLASS.get(record.class_code)
    attributes = record.attributes
    if type_name is None:
        return GenericComponent(**common, attributes=dict(attributes))  # type: ignore[arg-type]
    for name, convert in _FIELD_PLANS[type_name]:
        value = attributes.get(name)
        common[name] = convert(value) if convert is not None else value
    if type_name == "AirQualityStation":
        common["aqi_category"] = aqi_category(common["aqi"])
    return CONCRETE_TYPES[type_name](**common)
