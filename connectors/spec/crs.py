"""Coordinate systems a spec may name: WGS84/CGCS2000 (geographic, unchanged), GCJ02 and BD09 (``connectors.geo``),
or any EPSG code PROJ knows (projected systems such as CGCS2000 3-degree Gauss-Krüger, EPSG:4549)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from pyproj import CRS as ProjCRS
from pyproj import Transformer
from pyproj.exceptions import CRSError

from connectors import geo

Convert = Callable[[float, float], tuple[float, float]]
_GEOGRAPHIC = {"WGS84", "CGCS2000", "EPSG:4326", "EPSG:4490"}


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
    except CRSError as exc:
        raise ValueError(f"unknown coordinate system {name!r}: {exc}") from exc


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
