"""Units a department may send, and the unit each normalised attribute is in.

An attribute's target unit is spelled in its name's suffix (``pressure_mpa``, ``methane_lel``, ``diameter_mm``), as in
``connectors.catalogue.ATTRIBUTE_FIELDS``; a spec names the department's unit and the value is converted. A unit of
another dimension is a spec error; a unit of the right dimension but the wrong size shows as implausible values in
``yiwang connectors test``. Spellings are compared after Unicode NFKC folding, so ``m³/h`` is ``m3/h``, ``µg/m³``
(micro sign) is ``μg/m3`` (Greek mu) and ``℃`` is ``°C``; ``ug`` stands for ``μg``.

Only multiplicative units are here: kelvin and °F (offset scales) are refused rather than converted wrongly.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# dimension -> {unit as written in docs: factor to the dimension's base unit}
DIMENSIONS: dict[str, dict[str, float]] = {
    "pressure": {"Pa": 1.0, "hPa": 1e2, "kPa": 1e3, "MPa": 1e6, "mbar": 1e2, "bar": 1e5, "mH2O": 9806.65,
                 "mmH2O": 9.80665},
    "length": {"mm": 1e-3, "cm": 1e-2, "dm": 1e-1, "m": 1.0, "km": 1e3},
    # Methane: 100 %LEL is 5 %VOL (the LEL of methane used by Chinese gas detectors), i.e. 50,000 ppm.
    "methane": {"%LEL": 1.0, "%VOL": 20.0, "ppm": 1 / 500},
    "money": {"fen": 0.01, "分": 0.01, "jiao": 0.1, "角": 0.1, "yuan": 1.0, "元": 1.0},
    "volume": {"mL": 1e-3, "L": 1.0, "m³": 1e3},
    "flow": {"m³/h": 1.0, "m³/s": 3600.0, "m³/d": 1 / 24, "L/s": 3.6, "L/min": 0.06, "L/h": 1e-3},
    "air_concentration": {"ng/m³": 1e-3, "μg/m³": 1.0, "mg/m³": 1e3},
    "water_concentration": {"μg/L": 1e-3, "mg/L": 1.0, "g/L": 1e3},
    "ratio": {"ratio": 1.0, "%": 1e-2, "‰": 1e-3, "ppm": 1e-6, "ppb": 1e-9},
    "sound": {"dB": 1.0, "dB(A)": 1.0, "dBA": 1.0},
    "temperature": {"°C": 1.0},
    "speed": {"m/s": 1.0, "km/h": 1 / 3.6},
    "duration": {"s": 1.0, "min": 60.0, "h": 3600.0},
}

# attribute-name suffix -> the unit the gateway serves it in (longest suffix wins)
TARGET_BY_SUFFIX: dict[str, str] = {
    "_mpa": "MPa", "_kpa": "kPa", "_mm": "mm", "_cm": "cm", "_m": "m", "_km": "km", "_lel": "%LEL",
    "_yuan": "yuan", "_l": "L", "_m3": "m³", "_m3h": "m³/h", "_ls": "L/s", "_ugm3": "μg/m³", "_mgm3": "mg/m³",
    "_mgl": "mg/L", "_pct": "%", "_permille": "‰", "_ratio": "ratio", "_ppm": "ppm", "_db": "dB", "_c": "°C",
    "_ms": "m/s", "_kmh": "km/h", "_s": "s",
}
# Exact names whose unit is not in a suffix (air readings: μg/m³, CO in mg/m³ as HJ 633 reports it).
TARGET_BY_NAME: dict[str, str] = {"pm25": "μg/m³", "pm10": "μg/m³", "so2": "μg/m³", "no2": "μg/m³", "o3": "μg/m³",
                                  "co": "mg/m³"}
# An attribute named ``*_ppm`` is a ratio; methane attributes are ``*_lel``.
_TARGET_DIMENSION_OVERRIDE = {"ppm": "ratio"}

# Values outside these ranges (in the target unit) are reported by ``yiwang connectors test``.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "MPa": (0.0, 10.0), "kPa": (0.0, 10_000.0), "%LEL": (0.0, 100.0), "mm": (0.0, 100_000.0),
    "cm": (0.0, 10_000.0), "m": (-500.0, 10_000.0), "yuan": (0.0, 10_000.0), "μg/m³": (0.0, 5_000.0),
    "mg/m³": (0.0, 500.0), "mg/L": (0.0, 10_000.0), "dB": (0.0, 200.0), "m³/h": (0.0, 1_000_000.0),
    "%": (0.0, 100.0), "‰": (0.0, 1000.0), "ratio": (0.0, 1.0), "°C": (-60.0, 100.0),
}


def _key(unit: str) -> str:
    folded = unicodedata.normalize("NFKC", unit).replace(" ", "").replace("^3", "3")
    return "μ" + folded[1:] if folded.startswith("u") and folded[1:2] in ("g", "m") else folded


def suffix_help() -> str:
    """One line of the attribute-name suffixes and the unit each means."""
    return ", ".join(f"{suffix} ({unit})" for suffix, unit in TARGET_BY_SUFFIX.items())


def target_unit(attribute: str) -> str | None:
    if attribute in TARGET_BY_NAME:
        return TARGET_BY_NAME[attribute]
    for suffix in sorted(TARGET_BY_SUFFIX, key=len, reverse=True):
        if attribute.endswith(suffix):
            return TARGET_BY_SUFFIX[suffix]
    return None


def _dimension_of_target(target: str) -> str:
    if target in _TARGET_DIMENSION_OVERRIDE:
        return _TARGET_DIMENSION_OVERRIDE[target]
    return next(dimension for dimension, units in DIMENSIONS.items() if target in units)


@lru_cache(maxsize=256)
def conversion_factor(source: str, target: str) -> float:
    """Multiply a value in ``source`` by this to get it in ``target``; ValueError for an unknown unit or one of
    another dimension."""
    dimension = _dimension_of_target(target)
    units = {_key(unit): factor for unit, factor in DIMENSIONS[dimension].items()}
    if _key(source) in units:
        return units[_key(source)] / units[_key(target)]
    others = [name for name, table in DIMENSIONS.items() if _key(source) in {_key(unit) for unit in table}]
    if others:
        raise ValueError(f"unit {source!r} is a {others[0].replace('_', ' ')} unit; this attribute is in {target} "
                         f"({dimension.replace('_', ' ')}): write one of {', '.join(DIMENSIONS[dimension])}")
    raise ValueError(f"unknown unit {source!r}: for an attribute in {target} write one of "
                     f"{', '.join(DIMENSIONS[dimension])}")


def implausible(unit: str, value: float) -> bool:
    bounds = PLAUSIBLE.get(unit)
    return bounds is not None and not bounds[0] <= value <= bounds[1]
