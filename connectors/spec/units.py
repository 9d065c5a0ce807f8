"""Units a department may send, and the unit each normalised attribute is in.

An attribute's target unit is spelled in its name's suffix (``pressure_mpa``, ``methane_lel``, ``diameter_mm``), as in
``connectors.records.ATTRIBUTE_FIELDS``; a spec names the department's unit and the value is converted. A unit of
another dimension is a spec error; a unit of the right dimension but the wrong size shows as implausible values in
``yiwang connectors test``.
"""

from __future__ import annotations

# unit -> (dimension, factor to the dimension's base unit)
UNITS: dict[str, tuple[str, float]] = {
    "Pa": ("pressure", 1.0), "kPa": ("pressure", 1e3), "MPa": ("pressure", 1e6), "bar": ("pressure", 1e5),
    "mH2O": ("pressure", 9806.65),
    "mm": ("length", 1e-3), "cm": ("length", 1e-2), "m": ("length", 1.0), "km": ("length", 1e3),
    # Methane: 100 %LEL is 5 %VOL, i.e. 50,000 ppm.
    "%LEL": ("methane", 1.0), "%VOL": ("methane", 20.0), "ppm": ("methane", 1 / 500),
    "fen": ("money", 0.01), "yuan": ("money", 1.0),
    "m3/h": ("flow", 1.0), "L/s": ("flow", 3.6),
    "ug/m3": ("mass_concentration", 1.0), "µg/m³": ("mass_concentration", 1.0), "μg/m³": ("mass_concentration", 1.0),
    "mg/m3": ("mass_concentration", 1e3), "mg/m³": ("mass_concentration", 1e3),
    "dB": ("sound", 1.0), "dB(A)": ("sound", 1.0), "dBA": ("sound", 1.0),
}

# attribute-name suffix -> the unit the gateway serves it in
TARGET_BY_SUFFIX: dict[str, str] = {
    "_mpa": "MPa", "_kpa": "kPa", "_mm": "mm", "_cm": "cm", "_m": "m", "_lel": "%LEL", "_yuan": "yuan",
    "_m3h": "m3/h", "_db": "dB",
}
# Exact names whose unit is not in a suffix (air and dust readings in µg/m³).
TARGET_BY_NAME: dict[str, str] = {"pm25": "µg/m³", "pm10": "µg/m³", "so2": "µg/m³", "no2": "µg/m³", "o3": "µg/m³"}

# Values outside these ranges (in the target unit) are reported by ``yiwang connectors test``.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "MPa": (0.0, 10.0), "kPa": (0.0, 10_000.0), "%LEL": (0.0, 100.0), "mm": (0.0, 100_000.0),
    "cm": (0.0, 10_000.0), "m": (-500.0, 10_000.0), "yuan": (0.0, 10_000.0), "µg/m³": (0.0, 5_000.0),
    "dB": (0.0, 200.0), "m3/h": (0.0, 1_000_000.0),
}


def target_unit(attribute: str) -> str | None:
    if attribute in TARGET_BY_NAME:
        return TARGET_BY_NAME[attribute]
    for suffix, unit in TARGET_BY_SUFFIX.items():
        if attribute.endswith(suffix):
            return unit
    return None


def conversion_factor(source: str, target: str) -> float:
    """Multiply a value in ``source`` by this to get it in ``target``; ValueError across dimensions."""
    if source not in UNITS:
        raise ValueError(f"unknown unit {source!r} (known: {', '.join(UNITS)})")
    source_dimension, source_factor = UNITS[source]
    target_dimension, target_factor = UNITS[target]
    if source_dimension != target_dimension:
        raise ValueError(f"unit {source!r} is a {source_dimension} unit; this attribute is in {target} "
                         f"({target_dimension})")
    return source_factor / target_factor


def implausible(unit: str, value: float) -> bool:
    bounds = PLAUSIBLE.get(unit)
    return bounds is not None and not bounds[0] <= value <= bounds[1]
