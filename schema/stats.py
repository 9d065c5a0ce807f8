"""综合评价 — evaluation indicators of the case workflow for a region, broken down by child region.

Counts come per district from the case system; a region's numbers are the sums of its districts' counts, and every
rate is computed from summed counts (never an average of rates). Definitions: ``mocks/citymgmt_stats.py``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import strawberry

from connectors.statistics import RegionStats, merge_region_stats
from gateway import search
from gateway.context import reported
from gateway.scoping import SearchScope, scoped_region
from schema.enums import ALERT_LEVEL, EVENT_KIND, EVENT_STATUS, AlertLevel, EventKind, EventStatus
from schema.inputs import check_window, parse_region, region_arguments

CHILD_PREFIX_LENGTH = {0: 2, 2: 4, 4: 6}


@strawberry.type(description="案卷数 by case class: (kind, 小类). The 部件 and 事件 catalogues reuse numbers "
                             "(0102 污水井盖 / 0102 暴露垃圾), so one code can have an entry of each kind")
class ClassCount:
    kind: EventKind = strawberry.field(description="部件 (COMPONENT) or 事件 (EVENT): the catalogue of `code`")
    code: str = strawberry.field(description="小类代码 (4 digits) in that catalogue")
    count: int


@strawberry.type(description="案卷数 by workflow state")
class StatusCount:
    status: EventStatus
    count: int


@strawberry.type(description="报警数 by level")
class LevelCount:
    level: AlertLevel
    count: int


@strawberry.type(description="综合评价 — indicators of one region over a time window (cases by report time)")
class RegionStatistics:
    region_code: str = strawberry.field(description="行政区划代码 (000000 the country, xx0000 a province, …)")
    cases_total: int = strawberry.field(description="案卷总数")
    to_handle: int = strawberry.field(description="应处置数")
    handled: int = strawberry.field(description="处置数")
    handled_on_time: int = strawberry.field(description="按期处置数")
    to_close: int = strawberry.field(description="应结案数")
    closed: int = strawberry.field(description="结案数")
    closed_on_time: int = strawberry.field(description="按期结案数")
    reworked: int = strawberry.field(description="返工数")
    extended: int = strawberry.field(description="延期数")
    handling_rate: float | None = strawberry.field(description="处置率 = 处置数 / 应处置数")
    handled_on_time_rate: float | None = strawberry.field(description="按期处置率 = 按期处置数 / 应处置数")
    closing_rate: float | None = strawberry.field(description="结案率 = 结案数 / 应结案数")
    closed_on_time_rate: float | None = strawberry.field(description="按期结案率 = 按期结案数 / 应结案数")
    rework_rate: float | None = strawberry.field(description="返工率 = 返工数 / 应结案数")
    extension_rate: float | None = strawberry.field(description="延期率 = 延期数 / 应处置数")
    average_handling_hours: float | None = strawberry.field(description="平均处置时长 (hours, closed cases)")
    cases_by_class: list[ClassCount] = strawberry.field(
        description="案卷数 per case class (kind, 小类), ascending; 部件 and 事件 classes of one code apart")
    cases_by_status: list[StatusCount]
    alerts_by_level: list[LevelCount]
    alerts_total: int
    children: list[RegionStatistics] = strawberry.field(
        description="The same indicators per child region (provinces, cities or districts)")


def region_code_of(prefix: str) -> str:
    return prefix.ljust(6, "0")


def build_statistics(prefix: str, districts: list[RegionStats]) -> RegionStatistics:
    total = merge_region_stats(districts, region_code=region_code_of(prefix)) if districts else \
        RegionStats(region_code=region_code_of(prefix))
    children: list[RegionStatistics] = []
    child_length = CHILD_PREFIX_LENGTH.get(len(prefix))
    if child_length is not None:
        grouped: dict[str, list[RegionStats]] = defaultdict(list)
        for row in districts:
            grouped[row.region_code[:child_length]].append(row)
        children = [build_statistics(child, rows) for child, rows in sorted(grouped.items())]
    return _statistics(total, children)


def _statistics(stats: RegionStats, children: list[RegionStatistics]) -> RegionStatistics:
    return RegionStatistics(
        region_code=stats.region_code,
        cases_total=stats.cases_total, to_handle=stats.to_handle, handled=stats.handled,
        handled_on_time=stats.handled_on_time, to_close=stats.to_close, closed=stats.closed,
        closed_on_time=stats.closed_on_time, reworked=stats.reworked, extended=stats.extended,
        handling_rate=stats.handling_rate, handled_on_time_rate=stats.handled_on_time_rate,
        closing_rate=stats.closing_rate, closed_on_time_rate=stats.closed_on_time_rate,
        rework_rate=stats.rework_rate, extension_rate=stats.extension_rate,
        average_handling_hours=stats.average_handling_hours,
        cases_by_class=[ClassCount(kind=EVENT_KIND[kind.value], code=code, count=n)
                        for (kind, code), n in sorted(stats.by_class.items()) if n],
        cases_by_status=[StatusCount(status=EVENT_STATUS[status.value], count=n)
                         for status, n in stats.by_status.items() if n],
        alerts_by_level=[LevelCount(level=ALERT_LEVEL[level.value], count=n)
                         for level, n in stats.alerts_by_level.items() if n],
        alerts_total=stats.alerts_total,
        children=children,
    )


async def resolve_stats(info: strawberry.Info, region_code: str | None, start: datetime,
                        end: datetime) -> RegionStatistics:
    check_window(start, end, "from", "to", info.context.now)
    requested = region_arguments(("regionCode", parse_region(region_code)))
    prefix = scoped_region(info.context.access, SearchScope(regions=requested))
    districts = reported(info, await search.district_stats(info.context, prefix, start, end)).value
    return build_statistics(prefix, districts)
