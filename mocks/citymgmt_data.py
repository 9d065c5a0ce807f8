"""The 数字城管 department's share of the mock city: cases (案卷) and monitoring alerts, from the Inventory.

Everything here is in canonical terms (WGS-84/CGCS2000, timezone-aware datetimes, canonical units, the
English vocabularies of ``connectors.records`` as plain strings), like ``mocks.city``; ``mocks.citymgmt``
renders it in the department's dialect. Both functions are deterministic for a given Inventory (seed, scale,
anchor), so tests can compute statistics from them independently of the mock.

Cases: about ``CASES_PER_DISTRICT`` per district at scale 1.0, ~60% 部件 cases about a component of another
department (its class, its location give or take a few metres, its grid) and ~40% 事件 cases of the
catalogue's event classes. Reported within the last ``REPORT_WINDOW_DAYS`` days before the anchor; case ids
are 13-digit 案卷编号 = report date (YYYYMMDD) + 5-digit daily serial, so id order is report order.

Workflow side paths (domain.md §4), drawn from a separate random stream so the fields above do not depend on
them: ``handled_at`` (处置完成时间, when the department reported 处置 finished) is set exactly for cases whose
handling is finished (VERIFYING: waiting for 核查, CLOSED) and lies in [reported_at, closed_at or anchor];
``rework_count`` (返工次数) is how often 核查 sent the case back for rework, 1–3 for about ``REWORK_SHARE`` of the
cases that reached 处置 (IN_PROGRESS, VERIFYING, CLOSED), else 0; ``extended`` (延期) marks an approved extension
of the 处置时限 for about ``EXTENSION_SHARE`` of dispatched cases — ``deadline`` is the effective deadline,
extension included.

Alerts: one per (component, metric) whose latest reading (``mocks.city.attributes``) breaks a rule of
``schema/thresholds.toml``; the level is that of the most severe rule broken and ``threshold`` that rule's limit.
Air-quality stations raise 重污染天气预警 (metric ``aqi``) from their forecast daily-mean AQI, not the hourly one.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from mocks.city import (
    DEPARTMENT_NAMES,
    DEPARTMENT_OF_CLASS,
    DISTRICTS,
    BaseComponent,
    District,
    Inventory,
    aqi_forecast,
    attributes,
)
from schema.codes import load_catalogue
from schema.thresholds import Alarm, load_thresholds

CASES_PER_DISTRICT = 3000
COMPONENT_CASE_SHARE = 0.6
REPORT_WINDOW_DAYS = 90
MIN_REPORT_AGE = timedelta(minutes=10)
RECENT_CASE_AGE = timedelta(days=3)
URGENT_DEADLINE = timedelta(hours=2)
URGENT_SHARE = 0.08
URGENT_SHARE_EMERGENCIES = 0.6  # 事件大类 04 突发事件
OVERDUE_CLOSE_SHARE = 0.15
MAX_OVERDUE = timedelta(days=3)
CASE_LOCATION_JITTER_DEG = 0.00005  # about 5 m: the inspector's fix next to the component
DISTRICT_MARGIN_DEG = 0.002
DAILY_SERIAL_DIGITS = 5
REWORK_SHARE = 0.05
EXTENSION_SHARE = 0.03
OVERDUE_HANDLE_SHARE = 0.1
MAX_VERIFICATION = timedelta(hours=2)  # from 处置完成 (feedback) to 结案 after the 核查
# Statuses whose 处置 is finished, those that have reached 处置 (and may have been sent back), those dispatched.
HANDLED_STATUSES = frozenset({"VERIFYING", "CLOSED"})
REWORKABLE_STATUSES = frozenset({"IN_PROGRESS", "VERIFYING", "CLOSED"})
DISPATCHED_STATUSES = frozenset({"DISPATCHED", "IN_PROGRESS", "VERIFYING", "CLOSED", "POSTPONED", "SUPERVISED"})

# (status, weight): young cases are still in the workflow, old ones are mostly closed (domain.md §4).
RECENT_STATUS_WEIGHTS = (
    ("PENDING_ACCEPTANCE", 10), ("REGISTERED", 8), ("DISPATCHED", 15), ("IN_PROGRESS", 22), ("VERIFYING", 10),
    ("CLOSED", 30), ("VOIDED", 3), ("POSTPONED", 1), ("SUPERVISED", 1),
)
OLDER_STATUS_WEIGHTS = (
    ("REGISTERED", 1), ("DISPATCHED", 2), ("IN_PROGRESS", 4), ("VERIFYING", 2), ("CLOSED", 82), ("VOIDED", 5),
    ("POSTPONED", 2), ("SUPERVISED", 2),
)
COMPONENT_SOURCE_WEIGHTS = (("INSPECTOR", 55), ("PUBLIC_REPORT", 10), ("HOTLINE_12345", 20), ("SENSOR", 15))
EVENT_SOURCE_WEIGHTS = (("INSPECTOR", 55), ("PUBLIC_REPORT", 15), ("HOTLINE_12345", 30))
SOURCES_WITH_REPORTER = frozenset({"PUBLIC_REPORT", "HOTLINE_12345"})

# 处置时限 in days for normal urgency, per (kind, 小类) where it differs from the (kind, 大类) default. Keyed by kind:
# the 部件 and 事件 catalogues reuse numbers (0102 污水井盖 / 暴露垃圾, 0401 古树名木 / 路面塌陷, 大类 04 园林绿化 /
# 突发事件), so a rule for one must never land on the other.
DEADLINE_DAYS_BY_CLASS: dict[tuple[str, str], int] = {
    # open manholes and hydrants are dangerous
    **{("COMPONENT", code): 1 for code in ("0101", "0102", "0103", "0111", "0113")},
    ("EVENT", "0107"): 5, ("EVENT", "0201"): 2, ("EVENT", "0301"): 2, ("EVENT", "0401"): 1, ("EVENT", "0402"): 1,
    ("EVENT", "0403"): 1, ("EVENT", "0404"): 2, ("EVENT", "0504"): 1, ("EVENT", "0505"): 1,
}
DEADLINE_DAYS_BY_MAJOR: dict[tuple[str, str], int] = {
    ("COMPONENT", "01"): 2, ("COMPONENT", "02"): 3, ("COMPONENT", "03"): 3, ("COMPONENT", "04"): 3,
    ("COMPONENT", "05"): 3, ("COMPONENT", "06"): 5, ("COMPONENT", "21"): 3,
    ("EVENT", "01"): 2, ("EVENT", "02"): 3, ("EVENT", "03"): 3, ("EVENT", "04"): 1, ("EVENT", "05"): 2,
    ("EVENT", "21"): 3,
}
DEFAULT_DEADLINE_DAYS = 3

STREET_OFFICES = {
    "370811": ("古槐街道", "济阳街道", "阜桥街道", "越河街道", "南苑街道", "观音阁街道", "仙营街道",
               "金城街道", "许庄街道", "李营街道", "柳行街道", "唐口街道"),
    "370812": ("鼓楼街道", "酒仙桥街道", "龙桥街道", "兴隆庄街道"),
}
EVENT_HANDLERS_BY_MAJOR = {
    "01": "{district}环境卫生服务中心",
    "02": "{district}综合行政执法局",
    "03": "{district}综合行政执法局",
    "04": "{district}市政公用事业服务中心",
    "05": "{street}办事处",
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕孔颜"
GIVEN_NAMES = ("伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰",
               "娟", "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建国", "志强", "海燕", "玉兰",
               "晓东", "文华", "春梅", "子涵", "浩然", "欣怡", "宇航", "俊杰", "雨桐")
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
                   "156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182", "183", "185",
                   "186", "187", "188", "189", "191", "198", "199")
COMPONENT_PROBLEMS = {"DAMAGED": "破损", "MISSING": "丢失", "OCCUPIED": "被占用"}
OTHER_COMPONENT_PROBLEMS = ("破损", "松动", "移位", "污损", "倾斜")
RISK_NOTES = ("存在安全隐患", "影响通行", "请尽快处置", "群众反映强烈")
EVENT_SPOTS = ("东侧", "西侧", "南侧", "北侧", "路口", "人行道上", "绿化带旁", "公交站附近")


@dataclass(frozen=True, slots=True)
class Case:
    """One 案卷 in canonical terms (vocabularies as ``connectors.records`` enum values)."""

    id: str
    kind: str  # COMPONENT | EVENT
    class_code: str
    source: str
    status: str
    urgent: bool
    description: str
    address: str
    lng: float
    lat: float
    region_code: str
    grid_code: str
    component_id: str | None
    handling_department: str
    reported_at: datetime
    deadline: datetime | None
    closed_at: datetime | None
    reporter_name: str | None
    reporter_phone: str | None
    handled_at: datetime | None = None  # 处置完成时间: set for VERIFYING and CLOSED cases
    rework_count: int = 0  # 返工次数: times 核查 sent the case back to the department
    extended: bool = False  # 延期: an extension was approved (``deadline`` includes it)

    @property
    def overdue(self) -> bool:
        """Closed after its deadline."""
        return self.closed_at is not None and self.deadline is not None and self.closed_at > self.deadline


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    component_id: str
    metric: str
    value: float
    unit: str
    threshold: float
    level: str  # RED | ORANGE | YELLOW | BLUE
    raised_at: datetime
    department_id: str
    region_code: str


# Every metric schema/thresholds.toml has a rule for is raised (thresholds, levels and sources come from there). The
# city inventory's gas covers (0111) carry no methane reading, so no methane alarm is raised from it.
AIR_QUALITY_STATION_CLASS = "0308"


# --- cases --------------------------------------------------------------------------------------------------
def cases_per_district(inventory: Inventory) -> int:
    return max(1, round(CASES_PER_DISTRICT * inventory.scale))


def generate_cases(inventory: Inventory) -> list[Case]:
    """All cases of both districts in ascending 案卷编号 order (= report order)."""
    drafts: list[Case] = []
    for region, district in sorted(DISTRICTS.items()):
        drafts.extend(_district_cases(inventory, district, _components_in(inventory, region)))
    drafts.sort(key=lambda case: (case.reported_at, case.region_code, case.id))
    return _numbered(drafts)


def _components_in(inventory: Inventory, region: str) -> list[BaseComponent]:
    return [c for (bucket_region, _), bucket in sorted(inventory.buckets.items()) if bucket_region == region
            for c in bucket]


def _district_cases(inventory: Inventory, district: District, components: list[BaseComponent]) -> list[Case]:
    rng = random.Random(f"{inventory.seed}:citymgmt:{district.code}")
    workflow = random.Random(f"{inventory.seed}:citymgmt-workflow:{district.code}")
    event_classes = sorted(load_catalogue().events)
    out = []
    for index in range(cases_per_district(inventory)):
        draft_id = f"{district.code}-{index:07d}"  # becomes the 案卷编号 once all cases are in report order
        if rng.random() < COMPONENT_CASE_SHARE:
            component = components[int(rng.random() * len(components))]
            out.append(_component_case(rng, workflow, inventory, district, component, draft_id))
        else:
            class_code = event_classes[int(rng.random() * len(event_classes))]
            out.append(_event_case(rng, workflow, inventory, district, class_code, draft_id))
    return out


def _component_case(rng: random.Random, workflow: random.Random, inventory: Inventory, district: District,
                    component: BaseComponent, draft_id: str) -> Case:
    lng, lat = _near_component(rng, district, component)
    problem = COMPONENT_PROBLEMS.get(component.status) or rng.choice(OTHER_COMPONENT_PROBLEMS)
    source = _weighted(rng, COMPONENT_SOURCE_WEIGHTS)
    return _case(
        rng, workflow, inventory, draft_id, kind="COMPONENT", class_code=component.class_code, source=source,
        description=f"{component.name}{problem}，{rng.choice(RISK_NOTES)}",
        address=f"{district.name}{component.road}{1 + int(rng.random() * 300)}号附近",
        lng=lng, lat=lat, region_code=district.code, grid_code=component.grid_code, component_id=component.id,
        handling_department=DEPARTMENT_NAMES[component.department], urgent_share=URGENT_SHARE,
    )


def _near_component(rng: random.Random, district: District, component: BaseComponent) -> tuple[float, float]:
    """A fix a few metres from the component, kept inside the component's grid cell."""
    lng = round(component.lng + rng.uniform(-1, 1) * CASE_LOCATION_JITTER_DEG, 7)
    lat = round(component.lat + rng.uniform(-1, 1) * CASE_LOCATION_JITTER_DEG, 7)
    if district.grid_code(lng, lat) != component.grid_code:
        return component.lng, component.lat
    return lng, lat


def _event_case(rng: random.Random, workflow: random.Random, inventory: Inventory, district: District,
                class_code: str, draft_id: str) -> Case:
    width, height = district.max_lng - district.min_lng, district.max_lat - district.min_lat
    lng = round(district.min_lng + DISTRICT_MARGIN_DEG + rng.random() * (width - 2 * DISTRICT_MARGIN_DEG), 7)
    lat = round(district.min_lat + DISTRICT_MARGIN_DEG + rng.random() * (height - 2 * DISTRICT_MARGIN_DEG), 7)
    grid_code = district.grid_code(lng, lat)
    road = rng.choice(district.roads)
    class_name = load_catalogue().events[class_code].name
    major = class_code[:2]
    return _case(
        rng, workflow, inventory, draft_id, kind="EVENT", class_code=class_code,
        source=_weighted(rng, EVENT_SOURCE_WEIGHTS),
        description=f"{road}{rng.choice(EVENT_SPOTS)}{class_name}，{rng.choice(RISK_NOTES)}",
        address=f"{district.name}{road}{1 + int(rng.random() * 300)}号附近",
        lng=lng, lat=lat, region_code=district.code, grid_code=grid_code, component_id=None,
        handling_department=_event_handler(district, grid_code, major),
        urgent_share=URGENT_SHARE_EMERGENCIES if major == "04" else URGENT_SHARE,
    )


def _event_handler(district: District, grid_code: str, major: str) -> str:
    offices = STREET_OFFICES[district.code]
    street = offices[(int(grid_code[6:9]) - 1) % len(offices)]
    template = EVENT_HANDLERS_BY_MAJOR.get(major, "{district}城市管理局")
    return template.format(district=district.name, street=street)


def _case(rng: random.Random, workflow: random.Random, inventory: Inventory, draft_id: str, *, kind: str,
          class_code: str, source: str, description: str, address: str, lng: float, lat: float, region_code: str,
          grid_code: str, component_id: str | None, handling_department: str, urgent_share: float) -> Case:
    anchor = inventory.anchor
    window_s = REPORT_WINDOW_DAYS * 86400 - int(MIN_REPORT_AGE.total_seconds())
    reported_at = anchor - MIN_REPORT_AGE - timedelta(seconds=int(rng.random() * window_s))
    urgent = rng.random() < urgent_share
    status = _weighted(rng, RECENT_STATUS_WEIGHTS if anchor - reported_at < RECENT_CASE_AGE
                       else OLDER_STATUS_WEIGHTS)
    # A case gets its 处置时限 when it is registered (立案); one still awaiting acceptance has none yet.
    deadline = None if status == "PENDING_ACCEPTANCE" else reported_at + time_limit(kind, class_code, urgent)
    closed_at = _closing_time(rng, reported_at, deadline, anchor) if status == "CLOSED" else None
    with_reporter = source in SOURCES_WITH_REPORTER
    return Case(
        id=draft_id, kind=kind, class_code=class_code, source=source, status=status, urgent=urgent,
        description=description, address=address, lng=lng, lat=lat, region_code=region_code,
        grid_code=grid_code, component_id=component_id, handling_department=handling_department,
        reported_at=reported_at, deadline=deadline, closed_at=closed_at,
        reporter_name=_person_name(rng) if with_reporter else None,
        reporter_phone=_mobile_number(rng) if with_reporter else None,
        handled_at=_handling_time(workflow, status, reported_at, deadline, closed_at, anchor),
        rework_count=_rework_count(workflow) if status in REWORKABLE_STATUSES else 0,
        extended=status in DISPATCHED_STATUSES and workflow.random() < EXTENSION_SHARE,
    )


def time_limit(kind: str, class_code: str, urgent: bool) -> timedelta:
    """处置时限 of a case of class (kind, class_code)."""
    if urgent:
        return URGENT_DEADLINE
    days = (DEADLINE_DAYS_BY_CLASS.get((kind, class_code))
            or DEADLINE_DAYS_BY_MAJOR.get((kind, class_code[:2]), DEFAULT_DEADLINE_DAYS))
    return timedelta(days=days)


def _closing_time(rng: random.Random, reported_at: datetime, deadline: datetime | None,
                  anchor: datetime) -> datetime:
    assert deadline is not None  # closed cases were registered, so they have a deadline
    if rng.random() < OVERDUE_CLOSE_SHARE:
        late = deadline + timedelta(seconds=600 + int(rng.random() * (MAX_OVERDUE.total_seconds() - 600)))
        if late < anchor:
            return late
    latest = min(deadline, anchor)
    share = 0.1 + 0.9 * rng.random()
    return reported_at + timedelta(seconds=int(share * (latest - reported_at).total_seconds()))


def _handling_time(rng: random.Random, status: str, reported_at: datetime, deadline: datetime | None,
                   closed_at: datetime | None, anchor: datetime) -> datetime | None:
    """处置完成时间: before the 核查 for closed cases, some time before the anchor for cases being verified."""
    if status not in HANDLED_STATUSES:
        return None
    assert deadline is not None  # handled cases were registered, so they have a deadline
    if closed_at is not None:
        verification = min(MAX_VERIFICATION, (closed_at - reported_at) / 2)
        return closed_at - timedelta(seconds=int((0.1 + 0.9 * rng.random()) * verification.total_seconds()))
    if rng.random() < OVERDUE_HANDLE_SHARE:
        late = deadline + timedelta(seconds=600 + int(rng.random() * (MAX_OVERDUE.total_seconds() - 600)))
        if late < anchor:
            return late
    latest = min(deadline, anchor)
    return reported_at + timedelta(seconds=int((0.1 + 0.9 * rng.random()) * (latest - reported_at).total_seconds()))


def _rework_count(rng: random.Random) -> int:
    """0 for most cases; 1–3 sends back from 核查 for about ``REWORK_SHARE`` of them."""
    if rng.random() >= REWORK_SHARE:
        return 0
    extra = rng.random()
    return 1 + (extra < 0.2) + (extra < 0.05)


def _numbered(cases: list[Case]) -> list[Case]:
    """Replace draft ids by 案卷编号 (YYYYMMDD + daily serial), in report order."""
    out: list[Case] = []
    day, serial = "", 0
    for case in cases:
        case_day = f"{case.reported_at:%Y%m%d}"
        serial = serial + 1 if case_day == day else 1
        day = case_day
        if serial >= 10**DAILY_SERIAL_DIGITS:
            raise ValueError("too many cases a day for a 5-digit 案卷 serial: lower the inventory scale")
        out.append(replace(case, id=f"{case_day}{serial:0{DAILY_SERIAL_DIGITS}d}"))
    return out


def _weighted(rng: random.Random, weights: tuple[tuple[str, int], ...]) -> str:
    total = sum(weight for _, weight in weights)
    pick = rng.random() * total
    for value, weight in weights:
        pick -= weight
        if pick < 0:
            return value
    return weights[-1][0]


def _person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)


def _mobile_number(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{int(rng.random() * 10**8):08d}"


# --- alerts -------------------------------------------------------------------------------------------------
def generate_alerts(inventory: Inventory) -> list[Alert]:
    """All alerts in ascending id order (= raise order): threshold alarms on the latest readings, and 重污染天气预警
    from each air-quality station's forecast daily-mean AQI."""
    thresholds = load_thresholds()
    raised: list[tuple[datetime, str, str, Callable[[str], Alert]]] = []
    for (_, class_code), bucket in sorted(inventory.buckets.items()):
        if not thresholds.rules_for(class_code) and class_code != AIR_QUALITY_STATION_CLASS:
            continue
        for component in bucket:
            readings = attributes(component, inventory.anchor)
            alarms = thresholds.alarms(class_code, readings)
            if class_code == AIR_QUALITY_STATION_CLASS:
                warning = thresholds.heavy_pollution.warning(aqi_forecast(component.seed))
                alarms.extend([] if warning is None else [warning])
            raised_at = readings["reading_at"]
            assert isinstance(raised_at, datetime)
            for alarm in alarms:
                raised.append((raised_at, component.id, alarm.metric, _alert_factory(component, alarm, raised_at)))
    raised.sort(key=lambda item: item[:3])
    return [make(f"BJ{at:%Y%m%d}{serial:06d}") for serial, (at, _, _, make) in enumerate(raised, start=1)]


def _alert_factory(component: BaseComponent, alarm: Alarm, raised_at: datetime) -> Callable[[str], Alert]:
    def make(alert_id: str) -> Alert:
        return Alert(id=alert_id, component_id=component.id, metric=alarm.metric, value=alarm.value,
                     unit=alarm.unit, threshold=alarm.threshold, level=alarm.level, raised_at=raised_at,
                     department_id=DEPARTMENT_OF_CLASS[component.class_code],
                     region_code=component.region_code)

    return make
