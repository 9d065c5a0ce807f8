"""How the mock departments shift their ground truth (WGS-84) into the coordinate systems they speak, written apart
from ``connectors.geo`` so that the connectors' conversions are checked against an independent implementation rather
than against themselves.

GCJ-02: the published obfuscation (the form every open implementation reproduces: two polynomial-plus-sine
series in degrees from 105°E / 35°N, scaled to the Krasovsky ellipsoid). BD-09: Baidu's published transform of
GCJ-02. The inverses the mocks need for query filters are solved here by plain fixed-point iteration on the forward
transforms. ``tests/test_geo.py`` checks this module against published point pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

KRASOVSKY_SEMI_MAJOR_M = 6378245.0
KRASOVSKY_ECCENTRICITY_SQUARED = 0.00669342162296594323
BAIDU_ANGLE = math.pi * 3000.0 / 180.0
MEAN_EARTH_RADIUS_M = 6371008.8  # IUGG mean radius
_ITERATIONS = 40
_CONVERGED_DEG = 1e-12


def _in_mainland_box(lng: float, lat: float) -> bool:
    return 72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271


def _series_lat(x: float, y: float) -> float:
    value = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    value += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    value += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    value += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return value


def _series_lng(x: float, y: float) -> float:
    value = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    value += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    value += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    value += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return value


def gcj02_from_wgs84(lng: float, lat: float) -> tuple[float, float]:
    if not _in_mainland_box(lng, lat):
        return lng, lat
    d_lat = _series_lat(lng - 105.0, lat - 35.0)
    d_lng = _series_lng(lng - 105.0, lat - 35.0)
    rad_lat = math.radians(lat)
    magic = 1 - KRASOVSKY_ECCENTRICITY_SQUARED * math.sin(rad_lat) ** 2
    d_lat = (d_lat * 180.0) / ((KRASOVSKY_SEMI_MAJOR_M * (1 - KRASOVSKY_ECCENTRICITY_SQUARED))
                               / (magic * math.sqrt(magic)) * math.pi)
    d_lng = (d_lng * 180.0) / (KRASOVSKY_SEMI_MAJOR_M / math.sqrt(magic) * math.cos(rad_lat) * math.pi)
    return lng + d_lng, lat + d_lat


def bd09_from_gcj02(lng: float, lat: float) -> tuple[float, float]:
    radius = math.hypot(lng, lat) + 0.00002 * math.sin(lat * BAIDU_ANGLE)
    angle = math.atan2(lat, lng) + 0.000003 * math.cos(lng * BAIDU_ANGLE)
    return radius * math.cos(angle) + 0.0065, radius * math.sin(angle) + 0.006


def bd09_from_wgs84(lng: float, lat: float) -> tuple[float, float]:
    return bd09_from_gcj02(*gcj02_from_wgs84(lng, lat))


def _invert(forward: Callable[[float, float], tuple[float, float]], lng: float, lat: float) -> tuple[float, float]:
    """The point that ``forward`` takes to (lng, lat): the shift varies slowly, so subtracting it converges."""
    guess_lng, guess_lat = lng, lat
    for _ in range(_ITERATIONS):
        shifted_lng, shifted_lat = forward(guess_lng, guess_lat)
        error_lng, error_lat = shifted_lng - lng, shifted_lat - lat
        guess_lng, guess_lat = guess_lng - error_lng, guess_lat - error_lat
        if abs(error_lng) < _CONVERGED_DEG and abs(error_lat) < _CONVERGED_DEG:
            break
    return guess_lng, guess_lat


def wgs84_from_gcj02(lng: float, lat: float) -> tuple[float, float]:
    return _invert(gcj02_from_wgs84, lng, lat)


def wgs84_from_bd09(lng: float, lat: float) -> tuple[float, float]:
    return _invert(bd09_from_wgs84, lng, lat)


def great_circle_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Distance on the mean sphere (haversine form)."""
    half_dlat = math.radians(lat2 - lat1) / 2
    half_dlng = math.radians(lng2 - lng1) / 2
    h = (math.sin(half_dlat) ** 2
         + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(half_dlng) ** 2)
    return 2 * MEAN_EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
