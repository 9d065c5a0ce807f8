"""The 数字城管 department's evaluation counts (综合评价, domain.md §4): raw counts and sums per 6-digit district.

The department answers counts, never rates, so that any parent region's figures are plain sums of its districts'
and rates are derived once, at the end, without averaging averages.

Which cases and alerts count
----------------------------
- A case counts for district D in the window [start, end] iff ``case.region_code == D`` and
  ``start <= case.reported_at <= end`` (上报时间, both bounds inclusive; a missing bound is unbounded). A parent region
  (370800 = prefix 3708, 370000 = prefix 37, 000000 = everything; see ``region_prefix``) is the sum of the districts
  whose code starts with its prefix.
- An alert counts for district D iff ``alert.region_code == D`` and ``start <= alert.raised_at <= end`` (报警时间).

Counts (status names as ``connectors.records.EventStatus`` values)
-------------------------------------------------------------------
- 案卷总数 ``cases_total``: every case reported in the window, whatever its status.
- 应处置 ``to_handle``: cases dispatched to a department and neither voided nor postponed — status in
  {DISPATCHED, IN_PROGRESS, VERIFYING, CLOSED, SUPERVISED}. Not counted: PENDING_ACCEPTANCE (not accepted),
  REGISTERED (立案未移交, not dispatched yet), VOIDED (作废), POSTPONED (缓办/挂账).
- 已处置 ``handled``: 应处置 cases whose 处置 is finished — status VERIFYING (feedback given, awaiting 核查) or CLOSED.
- 按期处置 ``handled_on_time``: 已处置 cases with ``handled_at <= deadline`` (处置完成时间 no later than the effective
  处置时限, an approved extension included).
- 应结案 ``to_close``: registered cases neither voided nor postponed — status in {REGISTERED, DISPATCHED,
  IN_PROGRESS, VERIFYING, CLOSED, SUPERVISED} (应处置 plus REGISTERED).
- 结案 ``closed``: status CLOSED.
- 按期结案 ``closed_on_time``: CLOSED cases with ``closed_at <= deadline``.
- 返工 ``reworked``: 应结案 cases sent back from 核查 at least once (``rework_count >= 1``); a case counts once however
  often it was sent back.
- 延期 ``extended``: 应处置 cases with an approved extension.
- 处置时长 ``handling_seconds``: the sum over CLOSED cases of ``closed_at - reported_at`` in seconds (whole seconds in
  this mock); the department reports it in hours.
- 按小类 ``by_class``: cases reported in the window per case class (kind, 4-digit code): (COMPONENT, 部件小类) or
  (EVENT, 事件小类), every status. The two catalogues reuse codes (0102 污水井盖 / 暴露垃圾), so a code's counts are
  never added across kinds.
- 按状态 ``by_status``: cases reported in the window per status.
- 按报警级别 ``alerts_by_level``: alerts raised in the window per level (RED/ORANGE/YELLOW/BLUE = 一/二/三/四级).

Rates (derived by whoever adds districts up; ``None``/no value when the denominator is 0)
-----------------------------------------------------------------------------------------
处置率 = handled / to_handle; 按期处置率 = handled_on_time / to_handle; 结案率 = closed / to_close;
按期结案率 = closed_on_time / to_close; 返工率 = reworked / to_close; 延期率 = extended / to_handle;
平均处置时长 (hours) = handling_seconds / 3600 / closed.

This module is the department's side only: it counts cases into its report columns, one rule per column, and imports
nothing of the gateway's, so the gateway's sums and rates (``connectors.statistics``) are checked against counts they
did not produce.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from mocks.citymgmt_data import Alert, Case

TO_HANDLE_STATUSES = frozenset({"DISPATCHED", "IN_PROGRESS", "VERIFYING", "CLOSED", "SUPERVISED"})
HANDLED_STATUSES = frozenset({"VERIFYING", "CLOSED"})
TO_CLOSE_STATUSES = TO_HANDLE_STATUSES | {"REGISTERED"}


def _no_later(moment: datetime | None, deadline: datetime | None) -> bool:
    return moment is not None and deadline is not None and moment <= deadline


# The report's count columns in the department's words, in the order it answers them, each with the rule that says
# whether a case of the window adds one to it (see the module docstring).
CASE_COLUMNS: dict[str, Callable[[Case], bool]] = {
    "ajzs": lambda case: True,  # 案卷总数
    "yczs": lambda case: case.status in TO_HANDLE_STATUSES,  # 应处置
    "czs": lambda case: case.status in HANDLED_STATUSES,  # 已处置
    "aqczs": lambda case: case.status in HANDLED_STATUSES and _no_later(case.handled_at, case.deadline),  # 按期处置
    "yjas": lambda case: case.status in TO_CLOSE_STATUSES,  # 应结案
    "jas": lambda case: case.status == "CLOSED",  # 结案
    "aqjas": lambda case: case.status == "CLOSED" and _no_later(case.closed_at, case.deadline),  # 按期结案
    "fgs": lambda case: case.status in TO_CLOSE_STATUSES and case.rework_count > 0,  # 返工
    "yqs": lambda case: case.status in TO_HANDLE_STATUSES and case.extended,  # 延期
}


@dataclass(slots=True)
class DistrictStats:
    """One 6-digit district's report over a window: the count of each of ``CASE_COLUMNS`` and the breakdowns."""

    region_code: str
    columns: Counter[str] = field(default_factory=Counter)  # CASE_COLUMNS name -> cases
    handling_seconds: int = 0  # over CLOSED cases, whole seconds
    by_class: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, 小类) -> cases
    by_status: Counter[str] = field(default_factory=Counter)
    alerts_by_level: Counter[str] = field(default_factory=Counter)


def in_window(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    """start <= moment <= end, a missing bound being unbounded."""
    return (start is None or start <= moment) and (end is None or moment <= end)


def add_case(stats: DistrictStats, case: Case) -> None:
    stats.columns.update(column for column, counts in CASE_COLUMNS.items() if counts(case))
    if case.status == "CLOSED" and case.closed_at is not None:
        stats.handling_seconds += int((case.closed_at - case.reported_at).total_seconds())
    stats.by_class[case.kind, case.class_code] += 1
    stats.by_status[case.status] += 1


def district_stats(cases: Iterable[Case], alerts: Iterable[Alert], region_codes: Iterable[str],
                   start: datetime | None = None, end: datetime | None = None) -> list[DistrictStats]:
    """One ``DistrictStats`` per requested 6-digit district (ascending, zeros where nothing matched)."""
    out = {code: DistrictStats(code) for code in sorted(set(region_codes))}
    for case in cases:
        stats = out.get(case.region_code)
        if stats is not None and in_window(case.reported_at, start, end):
            add_case(stats, case)
    for alert in alerts:
        stats = out.get(alert.region_code)
        if stats is not None and in_window(alert.raised_at, start, end):
            stats.alerts_by_level[alert.level] += 1
    return list(out.values())
