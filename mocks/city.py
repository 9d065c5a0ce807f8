"""The ground truth of the mock city: one deterministic inventory of components that every mock department serves
its share of, in its own dialect.

Two districts of 济宁市 (370800): 任城区 370811 and 兖州区 370812. Locations are generated in WGS-84 inside each
district's box; each department converts them to its own coordinate system. Unit grids (单元网格, 15 digits) tile each
district: 4×4 streets (街道 001–016) × 3×3 communities (社区 01–09) × 5×5 cells (0001–0025), about 240 m a cell, so a
component's grid code follows from its location. Attributes and latest readings derive from the id alone, so a test
can compute the expected value of any field without asking a mock.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from mocks.datums import great_circle_m as distance_m
from schema.codes import credit_code_check_char, load_catalogue
from schema.thresholds import load_thresholds

CHINA_TZ = timezone(timedelta(hours=8))
DEFAULT_SEED = 20261101
GRID_STREETS = 4
GRID_COMMUNITIES = 3
GRID_CELLS = 5
GRID_DIVISIONS = GRID_STREETS * GRID_COMMUNITIES * GRID_CELLS  # cells along each axis


@dataclass(frozen=True, slots=True)
class District:
    code: str
    name: str
    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float
    roads: tuple[str, ...]

    def contains(self, lng: float, lat: float) -> bool:
        return self.min_lng <= lng <= self.max_lng and self.min_lat <= lat <= self.max_lat

    def grid_code(self, lng: float, lat: float) -> str:
        col = min(GRID_DIVISIONS - 1, int((lng - self.min_lng) / (self.max_lng - self.min_lng) * GRID_DIVISIONS))
        row = min(GRID_DIVISIONS - 1, int((lat - self.min_lat) / (self.max_lat - self.min_lat) * GRID_DIVISIONS))
        span = GRID_COMMUNITIES * GRID_CELLS
        street = (row // span) * GRID_STREETS + col // span + 1
        community = ((row % span) // GRID_CELLS) * GRID_COMMUNITIES + (col % span) // GRID_CELLS + 1
        cell = (row % GRID_CELLS) * GRID_CELLS + col % GRID_CELLS + 1
        return f"{self.code}{street:03d}{community:02d}{cell:04d}"


DISTRICTS: dict[str, District] = {
    "370811": District("370811", "任城区", 116.50, 35.36, 116.66, 35.48, (
        "太白楼路", "红星路", "建设路", "共青团路", "琵琶山路", "古槐路", "火炬路", "运河路", "洸河路", "吴泰闸路",
        "车站西路", "金宇路", "海川路", "济安桥路", "环城北路")),
    "370812": District("370812", "兖州区", 116.72, 35.50, 116.88, 35.62, (
        "建设东路", "九州大道", "兴隆路", "龙桥路", "中御桥路", "文化路", "鼓楼路", "青莲路", "大禹路", "扬州路",
        "少陵路", "东御桥路")),
}

DEPARTMENT_NAMES: dict[str, str] = {
    "water": "济宁市城乡水务局",
    "transport": "济宁市交通运输局",
    "environment": "济宁市生态环境局",
    "housing": "济宁市住房和城乡建设局",
    "citymgmt": "济宁市城市管理局",
}

# 小类 code -> components per district at scale 1.0 (about 24,000 in all for two districts).
DEPARTMENT_CLASSES: dict[str, dict[str, int]] = {
    "water": {"0101": 2500, "0102": 2000, "0103": 2000, "0113": 800, "2141": 150, "2142": 60, "2143": 120},
    "transport": {"0201": 250, "0203": 600, "0210": 400},
    "environment": {"0308": 30},
    "housing": {"0602": 200, "2150": 3000},
}
DEPARTMENT_OF_CLASS: dict[str, str] = {
    code: department for department, classes in DEPARTMENT_CLASSES.items() for code in classes
}

STATUS_WEIGHTS = (("INTACT", 85), ("DAMAGED", 7), ("MISSING", 2), ("OCCUPIED", 4), ("RETIRED", 2))
_STATUS_TABLE = tuple(status for status, weight in STATUS_WEIGHTS for _ in range(weight))


def _credit_code(authority: str, region: str, org: str) -> str:
    first17 = f"{authority}{region}{org}"
    return first17 + credit_code_check_char(first17)


@dataclass(frozen=True, slots=True)
class Org:
    name: str
    credit_code: str


ORGANIZATIONS: dict[str, tuple[Org, ...]] = {
    "water": (Org("济宁市供排水有限公司", _credit_code("91", "370800", "MA3C4Y1P8")),
              Org("济宁市市政工程养护中心", _credit_code("12", "370800", "4946201XK"))),
    "transport": (Org("济宁市公共交通集团有限公司", _credit_code("91", "370800", "16580932X")),
                  Org("济宁市交通设施养护中心", _credit_code("12", "370800", "MB1852372"))),
    "environment": (Org("济宁市生态环境监测中心", _credit_code("12", "370800", "49451902H")),
                    Org("山东省环境监测运维有限公司", _credit_code("91", "370000", "MA3N7G2Q1"))),
    "housing": (Org("济宁市房屋维修管理中心", _credit_code("12", "370800", "494580123")),
                Org("济宁城建投资集团有限公司", _credit_code("91", "370800", "MA3CFB9T6"))),
}


@dataclass(slots=True)
class BaseComponent:
    """A component as it stands in the world: WGS-84, canonical units, national codes."""

    id: str
    class_code: str
    department: str
    region_code: str
    grid_code: str
    lng: float
    lat: float
    status: str
    name: str
    road: str
    updated_at: datetime
    seed: int


def default_anchor() -> datetime:
    """Start of today in China: times in the data are relative to it, so the data is the same all day."""
    now = datetime.now(CHINA_TZ)
    return datetime(now.year, now.month, now.day, tzinfo=CHINA_TZ)


def anchor_from_date(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)


class Inventory:
    """All components of the mock city, bucketed by (district, class) so selections stay fast at a million rows."""

    def __init__(self, *, scale: float = 1.0, seed: int = DEFAULT_SEED, anchor: datetime | None = None) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.scale = scale
        self.seed = seed
        self.anchor = anchor or default_anchor()
        self.buckets: dict[tuple[str, str], list[BaseComponent]] = {}
        catalogue = load_catalogue()
        for department, classes in DEPARTMENT_CLASSES.items():
            for region, district in DISTRICTS.items():
                for class_code, count in classes.items():
                    class_name = catalogue.components[class_code].name
                    n = max(1, round(count * scale))
                    self.buckets[(region, class_code)] = self._generate(
                        department, district, class_code, class_name, n)
        self._by_id: dict[str, BaseComponent] | None = None

    def _generate(self, department: str, district: District, class_code: str, class_name: str,
                  n: int) -> list[BaseComponent]:
        rng = random.Random(f"{self.seed}:{district.code}:{class_code}")
        roads = district.roads
        width, height = district.max_lng - district.min_lng, district.max_lat - district.min_lat
        anchor = self.anchor
        out: list[BaseComponent] = []
        append = out.append
        rand = rng.random
        for serial in range(1, n + 1):
            lng = district.min_lng + 0.002 + rand() * (width - 0.004)
            lat = district.min_lat + 0.002 + rand() * (height - 0.004)
            road = roads[int(rand() * len(roads))]
            append(BaseComponent(
                id=f"{district.code}{class_code}{serial:06d}",
                class_code=class_code,
                department=department,
                region_code=district.code,
                grid_code=district.grid_code(lng, lat),
                lng=round(lng, 7),
                lat=round(lat, 7),
                status=_STATUS_TABLE[int(rand() * 100)],
                name=f"{road}{class_name}{serial}号",
                road=road,
                updated_at=anchor - timedelta(minutes=int(rand() * 525600)),
                seed=int(rand() * 2**31),
            ))
        return out

    # --- lookups ---------------------------------------------------------------------------------------------------
    @property
    def by_id(self) -> dict[str, BaseComponent]:
        if self._by_id is None:
            self._by_id = {c.id: c for bucket in self.buckets.values() for c in bucket}
        return self._by_id

    def get(self, component_id: str) -> BaseComponent | None:
        bucket = self.buckets.get((component_id[:6], component_id[6:10]))
        if bucket is None or not component_id[10:].isdigit():
            return None
        index = int(component_id[10:]) - 1
        return bucket[index] if 0 <= index < len(bucket) else None

    def of_department(self, department: str) -> Iterator[BaseComponent]:
        for (_, class_code), bucket in sorted(self.buckets.items()):
            if DEPARTMENT_OF_CLASS[class_code] == department:
                yield from bucket

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self.buckets.values())

    def select(
        self,
        department: str,
        *,
        regions: Iterable[str] | None = None,
        class_codes: Iterable[str] | None = None,
        grid_code: str | None = None,
        statuses: Iterable[str] | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        near: tuple[float, float, float] | None = None,
    ) -> Selection:
        """Components of one department matching the filters, in ascending id order. Geometry is WGS-84 here;
        a mock converts its dialect's coordinates before calling."""
        wanted_regions = set(regions) if regions is not None else None
        wanted_classes = set(class_codes) if class_codes is not None else None
        keys = sorted(
            key for key in self.buckets
            if DEPARTMENT_OF_CLASS[key[1]] == department
            and (wanted_regions is None or key[0] in wanted_regions)
            and (wanted_classes is None or key[1] in wanted_classes)
        )
        if grid_code is not None:
            keys = [key for key in keys if key[0] == grid_code[:6]]
        predicates = []
        if grid_code is not None:
            predicates.append(lambda c: c.grid_code == grid_code)
        if statuses is not None:
            wanted_statuses = set(statuses)
            predicates.append(lambda c: c.status in wanted_statuses)
        if bbox is not None:
            min_lng, min_lat, max_lng, max_lat = bbox
            predicates.append(lambda c: min_lng <= c.lng <= max_lng and min_lat <= c.lat <= max_lat)
        if near is not None:
            lng0, lat0, radius = near
            predicates.append(lambda c: distance_m(lng0, lat0, c.lng, c.lat) <= radius)
        return Selection([self.buckets[key] for key in keys], predicates)


class Selection:
    """An ordered (ascending id) view over some buckets with optional row predicates."""

    def __init__(self, buckets: list[list[BaseComponent]], predicates: list[Any]) -> None:
        self._buckets = buckets
        self._predicates = predicates

    @cached_property
    def _rows(self) -> Sequence[BaseComponent]:
        predicates = self._predicates
        return [c for bucket in self._buckets for c in bucket if all(p(c) for p in predicates)]

    @property
    def total(self) -> int:
        if not self._predicates:
            return sum(len(bucket) for bucket in self._buckets)
        return len(self._rows)

    def slice(self, offset: int, limit: int) -> list[BaseComponent]:
        """Rows [offset, offset+limit) without materialising the whole selection when there are no predicates."""
        if self._predicates:
            return list(self._rows[offset: offset + limit])
        out: list[BaseComponent] = []
        for bucket in self._buckets:
            if offset >= len(bucket):
                offset -= len(bucket)
                continue
            out.extend(bucket[offset: offset + limit - len(out)])
            offset = 0
            if len(out) >= limit:
                break
        return out

    def after_id(self, last_id: str | None, limit: int) -> list[BaseComponent]:
        """Rows with id > last_id (keyset pagination)."""
        if last_id is None:
            return self.slice(0, limit)
        if self._predicates:
            rows = self._rows
            ids = [c.id for c in rows]
            start = bisect.bisect_right(ids, last_id)
            return list(rows[start: start + limit])
        out: list[BaseComponent] = []
        for bucket in self._buckets:
            if bucket[-1].id <= last_id:
                continue
            start = bisect.bisect_right(bucket, last_id, key=lambda c: c.id)
            out.extend(bucket[start: start + limit - len(out)])
            if len(out) >= limit:
                break
        return out

    def __iter__(self) -> Iterator[BaseComponent]:
        if self._predicates:
            return iter(self._rows)
        return (c for bucket in self._buckets for c in bucket)


# --- attributes and readings -------------------------------------------------------------------------------------
MATERIALS = ("铸铁", "球墨铸铁", "复合材料", "混凝土")
HYDRANT_TYPES = ("地上式", "地下式")
CONTROL_MODES = ("FIXED_TIME", "ACTUATED", "ADAPTIVE")
STRUCTURES = ("砖混结构", "框架结构", "框架剪力墙结构", "钢结构")
USAGES = ("住宅", "商业", "办公", "工业", "公共服务")
CONTRACTORS = ("中建八局第二建设有限公司", "山东济宁城建工程集团", "济宁市政工程有限公司")
BUS_ROUTES = tuple(f"{n}路" for n in (1, 2, 3, 5, 6, 8, 10, 11, 15, 16, 21, 26, 29, 31, 35, 58, 101, 201, 301))


def reading_time(component: BaseComponent, anchor: datetime) -> datetime:
    """Latest observation: within the last hour before the anchor, on the minute."""
    return anchor - timedelta(minutes=1 + component.seed % 59)


def attributes(component: BaseComponent, anchor: datetime) -> dict[str, Any]:
    """Class-specific fields and latest readings in canonical units (names as in ``connectors.records``)."""
    s = component.seed
    rng = random.Random(s)
    code = component.class_code
    at = reading_time(component, anchor)
    if code in ("0101", "0102", "0103", "0111"):
        return {"material": MATERIALS[s % 4], "shape": "圆形" if s % 5 else "方形",
                "diameter_mm": (600, 700, 800)[s % 3]}
    if code == "0113":
        return {"hydrant_type": HYDRANT_TYPES[s % 2], "outlet_diameter_mm": (65, 100, 150)[s % 3],
                "pressure_mpa": _pressure(s), "reading_at": at}
    if code == "2141":
        return {"pipe_diameter_mm": (200, 300, 400, 600)[s % 4], "pressure_mpa": _pressure(s),
                "flow_m3h": round(_normal(s, "flow", 300, 120, 40, 900), 1), "reading_at": at}
    if code == "2142":
        return {**_water_quality(s), "reading_at": at}
    if code == "2143":
        return {"warning_depth_cm": 15.0, "ponding_depth_cm": _ponding(s),
                "water_level_m": round(_normal(s, "level", 31.6, 0.4, 30.5, 33.0), 2),
                "rainfall_mm": round(rng.uniform(0, 60), 1), "reading_at": at}
    if code == "0203":
        routes = sorted(set(rng.sample(BUS_ROUTES, 1 + s % 4)), key=lambda r: int(r[:-1]))
        return {"routes": routes, "has_shelter": bool(s % 3)}
    if code == "0210":
        return {"intersection": f"{component.road}与{rng.choice(DISTRICTS[component.region_code].roads)}交叉口",
                "control_mode": CONTROL_MODES[s % 3], "phase_count": 2 + s % 3, "online": bool(s % 20)}
    if code == "0201":
        capacity = 40 + s % 460
        return {"capacity": capacity, "available_spaces": int(capacity * rng.random()),
                "fee_per_hour_yuan": (2.0, 3.0, 5.0)[s % 3], "reading_at": at}
    if code == "0308":
        return {**air_quality(s, 0), "reading_at": at}
    if code == "0602":
        start = (anchor - timedelta(days=30 + s % 600)).date()
        return {"permit_number": f"{component.region_code}{2024 + s % 3}{s % 10**6:06d}",
                "contractor": {"name": CONTRACTORS[s % 3]},
                "start_date": start, "planned_end_date": start + timedelta(days=365 + s % 400),
                "pm10": round(_normal(s, "dust", 85, 30, 30, 250), 1), "noise_db": _noise(s, at), "reading_at": at}
    if code == "2150":
        floors = 1 + s % 33
        return {"address": f"{DISTRICTS[component.region_code].name}{component.road}{1 + s % 300}号",
                "floors": floors, "height_m": round(floors * 3.0 + rng.uniform(0.5, 4), 1),
                "year_built": 1975 + s % 50, "structure": STRUCTURES[s % 4], "usage": USAGES[s % 5]}
    return {}


# Readings are mostly normal (a bell around a typical value, inside the bands of schema/thresholds.toml) and about
# one in OUTLIER_EVERY is out of band, each metric by its own seed-derived draw: the share of normal readings is
# near 1 - 1/OUTLIER_EVERY, deterministic for a seed.
OUTLIER_EVERY = 25
FORECAST_DAYS = 7
EPISODE_EVERY = 12  # air-quality stations whose forecast holds a heavy-pollution episode
# Forecast daily-mean AQIs of the episodes, one per warning grade (蓝/黄/橙/红 in domain.md §5) and a 500 day.
EPISODES = ((215.0,), (212.0, 236.0), (224.0, 318.0, 241.0), (233.0, 322.0, 356.0, 262.0), (505.0, 288.0))


def _draw(seed: int, salt: str) -> random.Random:
    return random.Random(f"{seed}:{salt}")


def _normal(seed: int, salt: str, mean: float, sd: float, low: float, high: float) -> float:
    return min(high, max(low, _draw(seed, salt).gauss(mean, sd)))


def _outlier(seed: int, salt: str) -> bool:
    return _draw(seed, f"{salt}:out").random() < 1 / OUTLIER_EVERY


def _pressure(seed: int) -> float:
    # Mains run at 0.25-0.45 MPa; a low reading sits under GB 50974's 0.14 MPa, now and then under 0.10.
    if _outlier(seed, "p"):
        return round(_draw(seed, "p").uniform(0.08, 0.138), 3)
    return round(_normal(seed, "p", 0.33, 0.05, 0.18, 0.55), 3)


SAMPLING_POINTS = ("出厂", "末梢")  # where a water-quality reading was taken: leaving the plant, at the tap


def _water_quality(seed: int) -> dict[str, Any]:
    point = SAMPLING_POINTS[0] if seed % 5 == 0 else SAMPLING_POINTS[1]
    turbidity = (_draw(seed, "ntu").uniform(1.05, 3.0) if _outlier(seed, "ntu")
                 else _normal(seed, "ntu", 0.35, 0.15, 0.05, 0.95))
    draw = _draw(seed, "ph")
    ph = (draw.choice((draw.uniform(5.8, 6.45), draw.uniform(8.55, 9.2))) if _outlier(seed, "ph")
          else _normal(seed, "ph", 7.4, 0.3, 6.6, 8.4))
    draw = _draw(seed, "cl")
    if point == SAMPLING_POINTS[0]:
        chlorine = (draw.choice((draw.uniform(0.1, 0.29), draw.uniform(2.05, 2.6))) if _outlier(seed, "cl")
                    else _normal(seed, "cl", 0.8, 0.25, 0.35, 1.9))
    else:
        chlorine = draw.uniform(0.01, 0.045) if _outlier(seed, "cl") else _normal(seed, "cl", 0.3, 0.1, 0.07, 0.9)
    return {"sampling_point": point, "turbidity_ntu": round(turbidity, 2), "ph": round(ph, 2),
            "residual_chlorine_mgl": round(chlorine, 3)}


def _ponding(seed: int) -> float:
    # Most points are dry; a wet one holds a few centimetres, now and then more than the 15 cm that closes a lane.
    if _outlier(seed, "pond"):
        return round(_draw(seed, "pond").uniform(15.5, 40.0), 1)
    return 0.0 if seed % 10 else round(_normal(seed, "pond", 4.0, 3.0, 0.5, 12.0), 1)


def _noise(seed: int, at: datetime) -> float:
    # Sites keep under GB 12523-2011's boundary limits (70 dB(A) by day, 55 at night) but now and then exceed them.
    day = 6 <= at.astimezone(CHINA_TZ).hour < 22
    limit = 70.0 if day else 55.0
    if _outlier(seed, "noise"):
        return round(limit + _draw(seed, "noise").uniform(0.5, 9.0), 1)
    return round(_normal(seed, "noise", limit - 8.0, 3.0, limit - 18.0, limit - 0.5), 1)


def air_quality(seed: int, hours_ago: int) -> dict[str, float]:
    """Hourly air quality in µg/m³ (CO in mg/m³) and its AQI by HJ 633-2012 (the largest of the six IAQIs)."""
    base = 15 + (seed % 7) * 7
    swing = 1 + 0.35 * math.sin((hours_ago + seed % 24) / 24 * 2 * math.pi)
    pm25 = round(base * swing, 1)
    readings = {
        "pm25": pm25, "pm10": round(pm25 * 1.6, 1),
        "so2": round(8 + (seed % 5) * 2 * swing, 1), "no2": round(20 + (seed % 9) * 6 * swing, 1),
        "o3": round(60 + (seed % 11) * 10 / swing, 1), "co": round(0.4 + (seed % 6) * 0.15 * swing, 2),
    }
    index = load_thresholds().aqi.index(readings)
    assert index.aqi is not None
    return {"aqi": float(index.aqi), **readings}


def primary_pollutants(readings: dict[str, float]) -> tuple[str, ...]:
    """首要污染物 of one set of readings (HJ 633-2012: only when AQI > 50)."""
    return load_thresholds().aqi.index(readings).primary_pollutants


def aqi_forecast(seed: int) -> list[float]:
    """The station's forecast daily-mean AQI for the next FORECAST_DAYS days (重污染天气预警 are issued from it)."""
    draw = _draw(seed, "forecast")
    days = [round(min(180.0, max(25.0, draw.gauss(70.0, 28.0)))) * 1.0 for _ in range(FORECAST_DAYS)]
    if seed % EPISODE_EVERY == 0:
        episode = EPISODES[(seed // EPISODE_EVERY) % len(EPISODES)]
        start = draw.randrange(FORECAST_DAYS - len(episode) + 1)
        days[start: start + len(episode)] = episode
    return days


def organizations(department: str, component: BaseComponent) -> tuple[Org, Org]:
    """(owner 权属单位, maintainer 养护单位)."""
    owner, maintainer = ORGANIZATIONS[department]
    return owner, maintainer
