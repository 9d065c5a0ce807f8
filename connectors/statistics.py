"""The evaluation counts (综合评价) a statistics query answers per region, their sums over regions and the rates
derived from the sums."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from connectors.records import AlertLevel, CaseClass, EventStatus


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
