"""Coordinate systems of department systems, converted to WGS-84 / CGCS2000 at the connector.

GCJ-02 is WGS-84 shifted by the published obfuscation on the Krasovsky ellipsoid; BD-09 is GCJ-02 plus Baidu's
second transform. CGCS2000 equals WGS-84 at map scale, so it passes through unchanged. The inverse of GCJ-02 has no
closed form; it is solved by fixed-point iteration to well under a centimetre.
"""

from __future__ import annotations

import math
from enum import StrEnum

KRASOVSKY_A = 6378245.0
KRASOVSKY_EE = 0.00669342162296594323
BAIDU_X_PI = math.pi * 3000.0 / 180.0
EARTH_RADIUS_M = 6371008.8
_INVERSE_TOLERANCE_DEG = 1e-9  # about 0.1 mm
_INVERSE_MAX_ITERATIONS = 30


class CRS(StrEnum):
    WGS84 = "WGS84"
    CGCS2000 = "CGCS2000"
    GCJ02 = "GCJ02"
    BD09 = "BD09"


def _outside_china(lng: float, lat: float) -> bool:
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    if _outside_china(lng, lat):
        return lng, lat
    dlat = _transform_lat(lng - 105.0, lat - 35.0)
    dlng = _transform_lng(lng - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = math.sin(radlat)
    magic = 1 - KRASOVSKY_EE * magic * magic
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1 - KRASOVSKY_EE)) / (magic * sqrtmagic) * math.pi)
    dlng = (dlng * 180.0) / (KRASOVSKY_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lng + dlng, lat + dlat


def gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    if _outside_china(lng, lat):
        return lng, lat
    wlng, wlat = lng, lat
    for _ in range(_INVERSE_MAX_ITERATIONS):
        glng, glat = wgs84_to_gcj02(wlng, wlat)
        dlng, dlat = glng - lng, glat - lat
        wlng, wlat = wlng - dlng, wlat - dlat
        if abs(dlng) < _INVERSE_TOLERANCE_DEG and abs(dlat) < _INVERSE_TOLERANCE_DEG:
            break
    return wlng, wlat


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
