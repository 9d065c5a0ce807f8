"""Coordinate systems a spec may name: WGS84/CGCS2000 (geographic, unchanged), GCJ02 and BD09 (``connectors.geo``),
or any EPSG code PROJ knows (projected systems such as CGCS2000 3-degree Gauss-Krüger CM 117°E, EPSG:4548).

A projected system is only right for places inside its EPSG area of use: a Gauss-Krüger zone 3° off still converts,
to positions hundreds of kilometres away, so ``coverage_problem`` checks a spec's districts against it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from pyproj import CRS as ProjCRS
from pyproj import Transformer
from pyproj.exceptions import CRSError

from connectors import geo

Convert = Callable[[float, float], tuple[float, float]]
_GEOGRAPHIC = {"WGS84", "CGCS2000", "EPSG:4326", "EPSG:4490"}
Bounds = tuple[float, float, float, float]  # min_lng, min_lat, max_lng, max_lat (WGS-84)

# CGCS2000 3-degree Gauss-Krüger zones in the EPSG registry: "CM <n>E" (false easting 500 km) is EPSG:4534 for 75°E
# up to EPSG:4554 for 135°E; "zone <n>" (the zone number before the easting, e.g. 39 500 000 m) EPSG:4513 to 4533.
GK3_FIRST_CM, GK3_LAST_CM, GK3_CM_CODE, GK3_ZONE_CODE = 75, 135, 4534, 4513


def _identity(x: float, y: float) -> tuple[float, float]:
    return x, y


def check_crs(name: str) -> None:
    """ValueError if the name is not a coordinate system this gateway can convert."""
    if name in _GEOGRAPHIC or name in ("GCJ02", "BD09"):
        return
    if not name.upper().startswith("EPSG:"):
        raise ValueError(f"unknown coordinate system {name!r}: use WGS84, CGCS2000, GCJ02, BD09 or EPSG:<code>")
    try:
        ProjCRS.from_user_input(name)
    except CRSError as exc:  # PROJ's own message names its internals; the caller needs only the verdict
        raise ValueError(f"unknown coordinate system {name!r}: the EPSG registry has no such code (see "
                         f"https://epsg.org; e.g. EPSG:4548 is CGCS2000 3-degree Gauss-Krüger CM 117°E)") from exc


@lru_cache(maxsize=64)
def to_wgs84(name: str) -> Convert:
    """(x, y) in ``name`` → (lng, lat) in WGS-84; x is easting/longitude whatever the CRS's axis order."""
    if name in _GEOGRAPHIC:
        return _identity
    if name == "GCJ02":
        return geo.gcj02_to_wgs84
    if name == "BD09":
        return geo.bd09_to_wgs84
    transformer = Transformer.from_crs(name, "EPSG:4326", always_xy=True)
    return lambda x, y: tuple(transformer.transform(x, y))  # type: ignore[return-value]


@lru_cache(maxsize=64)
def from_wgs84(name: str) -> Convert:
    if name in _GEOGRAPHIC:
        return _identity
    if name == "GCJ02":
        return geo.wgs84_to_gcj02
    if name == "BD09":
        return geo.wgs84_to_bd09
    transformer = Transformer.from_crs("EPSG:4326", name, always_xy=True)
    return lambda lng, lat: tuple(transformer.transform(lng, lat))  # type: ignore[return-value]


@lru_cache(maxsize=64)
def area_of_use(name: str) -> Bounds | None:
    """The EPSG area of use of a projected system (None for geographic ones, or when the registry gives none)."""
    if name in _GEOGRAPHIC or name in ("GCJ02", "BD09"):
        return None
    crs = ProjCRS.from_user_input(name)
    if not crs.is_projected or crs.area_of_use is None:
        return None
    west, south, east, north = crs.area_of_use.bounds
    return west, south, east, north


def gk3_zone_hint(lng: float) -> str:
    """Which CGCS2000 3-degree Gauss-Krüger system covers a longitude."""
    meridian = 3 * round(lng / 3)
    if not GK3_FIRST_CM <= meridian <= GK3_LAST_CM:
        return ""
    step = (meridian - GK3_FIRST_CM) // 3
    return (f"; at {lng:.2f}°E the CGCS2000 3-degree Gauss-Krüger central meridian is {meridian}°E: "
            f"EPSG:{GK3_CM_CODE + step} (or EPSG:{GK3_ZONE_CODE + step} if eastings carry the zone number "
            f"{meridian // 3})")


def coverage_problem(name: str, districts: dict[str, Bounds]) -> str | None:
    """Why a projected system does not fit the districts a spec serves, or None."""
    area = area_of_use(name)
    if area is None:
        return None
    west, south, east, north = area
    for district, (min_lng, min_lat, max_lng, max_lat) in sorted(districts.items()):
        if not (west <= min_lng and max_lng <= east and south <= min_lat and max_lat <= north):
            return (f"{name} is meant for {west:g}–{east:g}°E, {south:g}–{north:g}°N, but district {district} lies "
                    f"at {min_lng:g}–{max_lng:g}°E, {min_lat:g}–{max_lat:g}°N: positions would land far away"
                    f"{gk3_zone_hint((min_lng + max_lng) / 2)}")
    return None
