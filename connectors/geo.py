"""Coordinate systems of department systems, converted to WGS-84 / CGCS2000 at the connector.

GCJ-02 is WGS-84 shifted by the published obfuscation on the Krasovsky ellipsoid; BD-09 is GCJ-02 plus Baidu's
second transform. CGCS2000 equals WGS-84 at map scale, so it passes through unchanged. The inverse of GCJ-02 has no
closed form; it is solved by fixed-point iteration to well under a centimetre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum

import numpy as np

KRASOVSKY_A = 6378245.0
KRASOVSKY_EE = 0.00669342162296594323
BAIDU_X_PI = math.pi * 3000.0 / 180.0
EARTH_RADIUS_M = 6371008.8
_INVERSE_TOLERANCE_DEG = 1e-9  # about 0.1 mm
_INVERSE_CORRECTIONS = 2
_INVERSE_MAX_ITERATIONS = 30
BATCH_MIN_POINTS = 48  # below this, numpy's fixed cost per call exceeds the scalar conversions


class CRS(StrEnum):
    WGS84 = "WGS84"
    CGCS2000 = "CGCS2000"
    GCJ02 = "GCJ02"
    BD09 = "BD09"


def _outside_china(lng: float, lat: float) -> bool:
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


_PI = math.pi
_SIN = math.sin
_SQRT = math.sqrt
_COS = math.cos
_LAT_SCALE = 180.0 / ((KRASOVSKY_A * (1 - KRASOVSKY_EE)) * _PI)
_LNG_SCALE = 180.0 / (KRASOVSKY_A * _PI)


def _offsets(lng: float, lat: float) -> tuple[float, float]:
    """The GCJ-02 shift (degrees) at a WGS-84 point inside China; the published transform, arranged for speed."""
    x, y = lng - 105.0, lat - 35.0
    common = (20.0 * _SIN(6.0 * x * _PI) + 20.0 * _SIN(2.0 * x * _PI)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * _SQRT(abs(x)) + common
    dlat += (20.0 * _SIN(y * _PI) + 40.0 * _SIN(y / 3.0 * _PI)) * 2.0 / 3.0
    dlat += (160.0 * _SIN(y / 12.0 * _PI) + 320 * _SIN(y * _PI / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * _SQRT(abs(x)) + common
    dlng += (20.0 * _SIN(x * _PI) + 40.0 * _SIN(x / 3.0 * _PI)) * 2.0 / 3.0
    dlng += (150.0 * _SIN(x / 12.0 * _PI) + 300.0 * _SIN(x / 30.0 * _PI)) * 2.0 / 3.0
    radlat = lat / 180.0 * _PI
    magic = _SIN(radlat)
    magic = 1 - KRASOVSKY_EE * magic * magic
    sqrtmagic = _SQRT(magic)
    return dlng * _LNG_SCALE * sqrtmagic / _COS(radlat), dlat * _LAT_SCALE * magic * sqrtmagic


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    if _outside_china(lng, lat):
        return lng, lat
    dlng, dlat = _offsets(lng, lat)
    return lng + dlng, lat + dlat


def gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """The shift varies slowly, so subtracting the shift at the GCJ point and correcting twice with the shift at the
    estimate lands within about 1e-10 degrees (0.01 mm) — three evaluations of the transform instead of an
    open-ended iteration (tests/test_geo.py)."""
    if _outside_china(lng, lat):
        return lng, lat
    dlng, dlat = _offsets(lng, lat)
    for _ in range(_INVERSE_CORRECTIONS):
        dlng, dlat = _offsets(lng - dlng, lat - dlat)
    return lng - dlng, lat - dlat


def _offsets_many(lng: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_offsets`` on arrays of points."""
    x, y = lng - 105.0, lat - 35.0
    common = (20.0 * np.sin(6.0 * x * _PI) + 20.0 * np.sin(2.0 * x * _PI)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
    dlat += (20.0 * np.sin(y * _PI) + 40.0 * np.sin(y / 3.0 * _PI)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * _PI) + 320 * np.sin(y * _PI / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
    dlng += (20.0 * np.sin(x * _PI) + 40.0 * np.sin(x / 3.0 * _PI)) * 2.0 / 3.0
    dlng += (150.0 * np.sin(x / 12.0 * _PI) + 300.0 * np.sin(x / 30.0 * _PI)) * 2.0 / 3.0
    radlat = lat / 180.0 * _PI
    magic = np.sin(radlat)
    magic = 1 - KRASOVSKY_EE * magic * magic
    sqrtmagic = np.sqrt(magic)
    return dlng * _LNG_SCALE * sqrtmagic / np.cos(radlat), dlat * _LAT_SCALE * magic * sqrtmagic


def gcj02_to_wgs84_many(lngs: Sequence[float], lats: Sequence[float]) -> tuple[list[float], list[float]]:
    """``gcj02_to_wgs84`` of many points at once (a page of department records): the same three evaluations on
    arrays, a fraction of the cost per point."""
    lng, lat = np.asarray(lngs, dtype=np.float64), np.asarray(lats, dtype=np.float64)
    dlng, dlat = _offsets_many(lng, lat)
    for _ in range(_INVERSE_CORRECTIONS):
        dlng, dlat = _offsets_many(lng - dlng, lat - dlat)
    inside = (lng >= 72.004) & (lng <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)
    return np.where(inside, lng - dlng, lng).tolist(), np.where(inside, lat - dlat, lat).tolist()


class Gcj02Batch:
    """The GCJ-02 points of one page of department records, converted to WGS-84 together the first time one of them
    is read (records translate their location on first read: a query that selects no location converts nothing)."""

    __slots__ = ("_lats", "_lngs", "_wgs84")

    def __init__(self) -> None:
        self._lngs: list[float] = []
        self._lats: list[float] = []
        self._wgs84: tuple[list[float], list[float]] | None = None

    def add(self, lng: float, lat: float) -> int:
        """Add a point; its index in the batch."""
        self._lngs.append(lng)
        self._lats.append(lat)
        return len(self._lngs) - 1

    def wgs84(self, index: int) -> tuple[float, float]:
        converted = self._wgs84
        if converted is None:
            if len(self._lngs) >= BATCH_MIN_POINTS:
                converted = gcj02_to_wgs84_many(self._lngs, self._lats)
            else:
                points = [gcj02_to_wgs84(lng, lat) for lng, lat in zip(self._lngs, self._lats, strict=True)]
                converted = [p[0] for p in points], [p[1] for p in points]
            self._wgs84 = converted
        return converted[0][index], converted[1][index]


def gcj02_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * BAIDU_X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * BAIDU_X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _bd09_to_gcj02_approx(lng: float, lat: float) -> tuple[float, float]:
    x = lng - 0.0065
    y = lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * BAIDU_X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * BAIDU_X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def bd09_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """Baidu's published inverse, refined by iteration (the closed form alone is off by up to ~0.5 m)."""
    glng, glat = _bd09_to_gcj02_approx(lng, lat)
    for _ in range(_INVERSE_MAX_ITERATIONS):
        blng, blat = gcj02_to_bd09(glng, glat)
        dlng, dlat = blng - lng, blat - lat
        glng, glat = glng - dlng, glat - dlat
        if abs(dlng) < _INVERSE_TOLERANCE_DEG and abs(dlat) < _INVERSE_TOLERANCE_DEG:
            break
    return glng, glat


def wgs84_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lng, lat))


def bd09_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lng, lat))


def to_wgs84(crs: CRS, lng: float, lat: float) -> tuple[float, float]:
    if crs is CRS.GCJ02:
        return gcj02_to_wgs84(lng, lat)
    if crs is CRS.BD09:
        return bd09_to_wgs84(lng, lat)
    return lng, lat


def from_wgs84(crs: CRS, lng: float, lat: float) -> tuple[float, float]:
    if crs is CRS.GCJ02:
        return wgs84_to_gcj02(lng, lat)
    if crs is CRS.BD09:
        return wgs84_to_bd09(lng, lat)
    return lng, lat


def haversine_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lng2 - lng1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bbox_around(lng: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """The (min_lng, min_lat, max_lng, max_lat) box that contains a circle; used to push `near` down."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlng = math.degrees(radius_m / (EARTH_RADIUS_M * max(math.cos(math.radians(lat)), 1e-6)))
    return lng - dlng, lat - dlat, lng + dlng, lat + dlat
