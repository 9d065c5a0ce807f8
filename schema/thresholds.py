"""Alarm thresholds, heavy-pollution warning grades and the HJ 633-2012 AQI, loaded from ``thresholds.toml``.

The numbers live in the data file, each rule with the standard it follows; this module only reads them and applies
them. ``load_thresholds()`` is cached; pass a path to load a city's own file.
"""

from __future__ import annotations

import math
import operator
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_THRESHOLDS_PATH = Path(__file__).with_name("thresholds.toml")
LEVELS = ("RED", "ORANGE", "YELLOW", "BLUE")  # 一/二/三/四级, most severe first
CHINA_TZ = timezone(timedelta(hours=8))
POLLUTANTS = ("so2", "no2", "pm10", "co", "o3", "pm25")  # HJ 633-2012's six
_SO2_1H_TOP = "so2"
_SO2_24H = "so2_24h"
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_WHEN_KEYS = frozenset({"sampling_point", "period"})
_PERIODS = frozenset({"day", "night"})


@dataclass(frozen=True, slots=True)
class Rule:
    """One limit of one metric: it fires when ``reading <alarm_if> limit``."""

    metric: str
    attribute: str
    unit: str
    classes: frozenset[str]
    alarm_if: str
    limit: float
    level: str
    source: str
    when: Mapping[str, str]

    def fires(self, value: float) -> bool:
        return _COMPARISONS[self.alarm_if](value, self.limit)


@dataclass(frozen=True, slots=True)
class Alarm:
    metric: str
    value: float
    unit: str
    threshold: float
    level: str
    source: str


@dataclass(frozen=True, slots=True)
class Clause:
    """A run of ≥ ``days`` consecutive forecast days over ``above`` (or at ``at_least``), holding ≥ ``severe_days``
    days over ``severe_above``."""

    days: int
    above: float | None = None
    at_least: float | None = None
    severe_above: float | None = None
    severe_days: int = 0

    @property
    def threshold(self) -> float:
        value = self.severe_above if self.severe_above is not None else (
            self.above if self.above is not None else self.at_least)
        assert value is not None
        return float(value)

    def _over(self, aqi: float) -> bool:
        return aqi > self.above if self.above is not None else aqi >= (self.at_least or 0)

    def holds(self, daily_aqi: Sequence[float]) -> bool:
        run: list[float] = []
        for aqi in [*daily_aqi, -math.inf]:
            if self._over(aqi):
                run.append(aqi)
                continue
            severe = len(run) if self.severe_above is None else sum(a > self.severe_above for a in run)
            if len(run) >= self.days and severe >= self.severe_days:
                return True
            run = []
        return False


@dataclass(frozen=True, slots=True)
class HeavyPollution:
    metric: str
    unit: str
    forecast_days: int
    source: str
    levels: tuple[tuple[str, tuple[Clause, ...]], ...]  # most severe first

    def warning(self, daily_aqi: Sequence[float]) -> Alarm | None:
        """The 重污染天气预警 a forecast of daily-mean AQIs calls for, or None."""
        for level, clauses in self.levels:
            for clause in clauses:
                if clause.holds(daily_aqi):
                    return Alarm(self.metric, float(max(daily_aqi)), self.unit, clause.threshold, level, self.source)
        return None


@dataclass(frozen=True, slots=True)
class AirQualityIndex:
    aqi: int | None
    primary_pollutants: tuple[str, ...]  # 首要污染物: empty when AQI ≤ 50


@dataclass(frozen=True, slots=True)
class AqiTables:
    source: str
    iaqi: tuple[int, ...]
    breakpoints: Mapping[str, tuple[float, ...]]
    first_named_above: int

    def iaqi_of(self, pollutant: str, value: float) -> int:
        """HJ 633-2012 IAQI of one concentration (µg/m³, CO mg/m³), rounded up; computed in exact decimals so a
        concentration on a breakpoint gives that breakpoint's IAQI."""
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{pollutant}: not a concentration: {value!r}")
        table = self.breakpoints[pollutant]
        if pollutant == _SO2_1H_TOP and value > table[-1]:
            table = self.breakpoints[_SO2_24H]  # HJ 633: 1-hour SO2 above 800 µg/m³ is rated on the 24-hour table
        concentration = Fraction(str(value))
        for i in range(1, len(table)):
            low, high = Fraction(str(table[i - 1])), Fraction(str(table[i]))
            if concentration <= high:
                i_low, i_high = self.iaqi[i - 1], self.iaqi[i]
                return math.ceil((i_high - i_low) / (high - low) * (concentration - low) + i_low)
        return self.iaqi[-1]

    def index(self, concentrations: Mapping[str, float | None]) -> AirQualityIndex:
        """AQI = the largest IAQI of the six pollutants present; 首要污染物 those that set it, when AQI > 50."""
        iaqis = {p: self.iaqi_of(p, float(v)) for p in POLLUTANTS if (v := concentrations.get(p)) is not None}
        if not iaqis:
            return AirQualityIndex(None, ())
        aqi = max(iaqis.values())
        primary = tuple(p for p in POLLUTANTS if iaqis.get(p) == aqi) if aqi > self.first_named_above else ()
        return AirQualityIndex(aqi, primary)


@dataclass(frozen=True, slots=True)
class Thresholds:
    rules: tuple[Rule, ...]
    day_starts_hour: int
    night_starts_hour: int
    heavy_pollution: HeavyPollution
    aqi: AqiTables

    def rules_for(self, class_code: str) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if class_code in rule.classes)

    def period(self, at: datetime) -> str:
        """"day" or "night" (GB 12523-2011's 昼间/夜间) for a moment, in China's local time."""
        local = at.astimezone(CHINA_TZ) if at.tzinfo is not None else at
        return "day" if self.day_starts_hour <= local.hour < self.night_starts_hour else "night"

    def alarms(self, class_code: str, readings: Mapping[str, Any]) -> list[Alarm]:
        """One alarm per metric whose reading breaks a rule, at the most severe level broken (rule order breaks
        ties). Rules whose attribute the readings lack, or whose ``when`` does not match, are skipped."""
        worst: dict[str, Alarm] = {}
        for rule in self.rules_for(class_code):
            value = readings.get(rule.attribute)
            if not isinstance(value, int | float) or not self._applies(rule, readings) or not rule.fires(value):
                continue
            current = worst.get(rule.metric)
            if current is None or LEVELS.index(rule.level) < LEVELS.index(current.level):
                worst[rule.metric] = Alarm(rule.metric, float(value), rule.unit, rule.limit, rule.level, rule.source)
        return list(worst.values())

    def _applies(self, rule: Rule, readings: Mapping[str, Any]) -> bool:
        for key, wanted in rule.when.items():
            if key == "period":
                at = readings.get("reading_at")
                if not isinstance(at, datetime) or self.period(at) != wanted:
                    return False
            elif readings.get(key) != wanted:
                return False
        return True


@lru_cache(maxsize=4)
def load_thresholds(path: str | None = None) -> Thresholds:
    source = Path(path) if path else DEFAULT_THRESHOLDS_PATH
    raw = tomllib.loads(source.read_text(encoding="utf-8"))
    try:
        return _parse(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{source}: {exc}") from exc


def _parse(raw: Mapping[str, Any]) -> Thresholds:
    rules = tuple(_rule(i, entry) for i, entry in enumerate(raw["rules"]))
    periods = raw["periods"]
    aqi = raw["aqi"]
    tables = {name: tuple(float(v) for v in values) for name, values in aqi["breakpoints"].items()}
    if set(POLLUTANTS) - set(tables) or _SO2_24H not in tables:
        raise ValueError(f"aqi.breakpoints needs {', '.join((*POLLUTANTS, _SO2_24H))}")
    for name, table in tables.items():
        if list(table) != sorted(set(table)) or len(table) > len(aqi["iaqi"]):
            raise ValueError(f"aqi.breakpoints.{name} must rise and have at most one value per IAQI step")
    return Thresholds(
        rules=rules,
        day_starts_hour=int(periods["day_starts_hour"]),
        night_starts_hour=int(periods["night_starts_hour"]),
        heavy_pollution=_heavy_pollution(raw["heavy_pollution"]),
        aqi=AqiTables(source=str(aqi["source"]), iaqi=tuple(int(v) for v in aqi["iaqi"]), breakpoints=tables,
                      first_named_above=int(aqi["first_named_above"])),
    )


def _rule(index: int, entry: Mapping[str, Any]) -> Rule:
    where = f"rules[{index}] ({entry.get('metric', '?')})"
    if entry.get("alarm_if") not in _COMPARISONS:
        raise ValueError(f"{where}: alarm_if must be one of {', '.join(_COMPARISONS)}")
    if entry.get("level") not in LEVELS:
        raise ValueError(f"{where}: level must be one of {', '.join(LEVELS)}")
    if not str(entry.get("source", "")).strip():
        raise ValueError(f"{where}: every threshold cites its source")
    when = {str(k): str(v) for k, v in entry.get("when", {}).items()}
    if set(when) - _WHEN_KEYS or when.get("period", "day") not in _PERIODS:
        raise ValueError(f"{where}: when takes sampling_point and period (day or night)")
    return Rule(metric=str(entry["metric"]), attribute=str(entry["attribute"]), unit=str(entry["unit"]),
                classes=frozenset(str(c) for c in entry["classes"]), alarm_if=entry["alarm_if"],
                limit=float(entry["limit"]), level=entry["level"], source=str(entry["source"]), when=when)


def _heavy_pollution(entry: Mapping[str, Any]) -> HeavyPollution:
    levels = []
    for level in entry["levels"]:
        if level["level"] not in LEVELS:
            raise ValueError(f"heavy_pollution.levels: level must be one of {', '.join(LEVELS)}")
        clauses = tuple(Clause(**clause) for clause in level["any_of"])
        if any((c.above is None) == (c.at_least is None) for c in clauses):
            raise ValueError("heavy_pollution: each clause has exactly one of above and at_least")
        levels.append((str(level["level"]), clauses))
    return HeavyPollution(metric=str(entry["metric"]), unit=str(entry["unit"]),
                          forecast_days=int(entry["forecast_days"]), source=str(entry["source"]),
                          levels=tuple(levels))
