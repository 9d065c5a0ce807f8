"""The 数字城管 evaluation statistics: ``/api/stats`` parameters (the districts ``sqbm`` and the inclusive window
``sbsjq``/``sbsjz``, rounded inwards to whole local seconds) and its per-district columns of raw counts read as
``RegionStats``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from connectors.citymgmt_dialect import KIND_BY_NAME, LEVEL_BY_NAME, STATUS_BY_NAME, local_time, read_number, read_text
from connectors.records import AlertLevel, CaseClass, EventStatus
from connectors.statistics import RegionStats
from connectors.values import is_ascii_digits

KeyT = TypeVar("KeyT")
CLASS_CODE_LENGTH = 4
DISTRICT_CODE_LENGTH = 6


def _count(row: Mapping[str, Any], key: str) -> int:
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is {type(value).__name__}, not an integer")
    if value < 0:
        raise ValueError(f"{key} is negative: {value}")
    return value


def _counts(row: Mapping[str, Any], key: str, name_key: str, to_key: Callable[[str], KeyT],
            counts: dict[KeyT, int]) -> dict[KeyT, int]:
    """Add the department's ``[{name_key: ..., "sl": n}]`` list to ``counts`` (repeated names add up)."""
    entries = row[key]
    if not isinstance(entries, list):
        raise TypeError(f"{key} is {type(entries).__name__}, not a list")
    for entry in entries:
        if not isinstance(entry, dict):
            raise TypeError(f"{key} entries must be objects")
        name = to_key(read_text(entry, name_key))
        counts[name] = counts.get(name, 0) + _count(entry, "sl")
    return counts


def _class_code(value: str) -> str:
    if len(value) != CLASS_CODE_LENGTH or not is_ascii_digits(value):
        raise ValueError(f"not a 4-digit class code: {value!r}")
    return value


def _class_counts(row: Mapping[str, Any]) -> dict[CaseClass, int]:
    """``ajlb``: cases per (案卷类型, 小类). An entry without its kind is refused: its count cannot be told apart
    between the 部件 and the 事件 class of the same number."""
    counts: dict[CaseClass, int] = {}
    entries = row["ajlb"]
    if not isinstance(entries, list):
        raise TypeError(f"ajlb is {type(entries).__name__}, not a list")
    for entry in entries:
        if not isinstance(entry, dict):
            raise TypeError("ajlb entries must be objects")
        key = (KIND_BY_NAME[read_text(entry, "ajlx")], _class_code(read_text(entry, "xlbm")))
        counts[key] = counts.get(key, 0) + _count(entry, "sl")
    return counts


def region_stats_record(row: Mapping[str, Any]) -> RegionStats:
    region_code = read_text(row, "sqbm")
    if len(region_code) != DISTRICT_CODE_LENGTH or not is_ascii_digits(region_code):
        raise ValueError(f"not a 6-digit region code: {region_code!r}")
    hours = read_number(row, "czsc")
    if hours < 0:
        raise ValueError(f"czsc is negative: {hours}")
    return RegionStats(
        region_code=region_code,
        cases_total=_count(row, "ajzs"),
        to_handle=_count(row, "yczs"),
        handled=_count(row, "czs"),
        handled_on_time=_count(row, "aqczs"),
        to_close=_count(row, "yjas"),
        closed=_count(row, "jas"),
        closed_on_time=_count(row, "aqjas"),
        reworked=_count(row, "fgs"),
        extended=_count(row, "yqs"),
        handling_hours_sum=hours,
        by_class=_class_counts(row),
        by_status=_counts(row, "ajzt", "ajzt", STATUS_BY_NAME.__getitem__, dict.fromkeys(EventStatus, 0)),
        alerts_by_level=_counts(row, "bjjb", "bjjb", LEVEL_BY_NAME.__getitem__, dict.fromkeys(AlertLevel, 0)),
    )


def stats_params(region_codes: Sequence[str], start: datetime, end: datetime) -> dict[str, str]:
    return {
        "sqbm": ",".join(sorted(set(region_codes))),
        "sbsjq": local_time(start, round_up=True),
        "sbsjz": local_time(end, round_up=False),
    }
