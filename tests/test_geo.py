"""Coordinate conversions against published point pairs (wandergis/coordtransform, input 116.404, 39.915), and the
connectors' conversions against the mock departments' ground truth, which the mocks shift with an implementation of
their own (mocks/datums.py), checked here against the same published pairs."""

from __future__ import annotations

import random

import httpx
import pytest

from connectors import geo
from mocks import datums
from mocks.city import Inventory

POINT = (116.404, 39.915)
# The reference's forward transforms are exact; its inverses are one-step approximations (about a metre off),
# which is why ours (solved to 0.1 mm) are compared with a tolerance.
WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
GCJ02_TO_WGS84_APPROX = (116.39775550083061, 39.91359571849836)
BD09_TO_GCJ02_APPROX = (116.39762729119315, 39.90865673957631)


def test_forward_transforms_match_the_published_values_exactly() -> None:
    assert geo.wgs84_to_gcj02(*POINT) == pytest.approx(WGS84_TO_GCJ02, abs=1e-12)
    assert geo.gcj02_to_bd09(*POINT) == pytest.approx(GCJ02_TO_BD09, abs=1e-12)


def test_inverse_transforms_agree_with_the_published_approximations_within_a_metre() -> None:
    for ours, theirs in ((geo.gcj02_to_wgs84(*POINT), GCJ02_TO_WGS84_APPROX),
                         (geo.bd09_to_gcj02(*POINT), BD09_TO_GCJ02_APPROX)):
        assert geo.haversine_m(*ours, *theirs) < 1.0


def test_round_trips_are_exact_to_a_millimetre_across_the_city() -> None:
    rng = random.Random(7)
    for _ in range(500):
        lng, lat = rng.uniform(116.4, 117.0), rng.uniform(35.2, 35.8)
        for crs in (geo.CRS.GCJ02, geo.CRS.BD09, geo.CRS.CGCS2000):
            back = geo.to_wgs84(crs, *geo.from_wgs84(crs, lng, lat))
            assert geo.haversine_m(lng, lat, *back) < 0.001


def test_shift_is_hundreds_of_metres_inside_china_and_none_outside() -> None:
    assert 100 < geo.haversine_m(*POINT, *geo.wgs84_to_gcj02(*POINT)) < 700
    assert geo.wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert geo.gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)


def test_bbox_around_contains_the_circle() -> None:
    min_lng, min_lat, max_lng, max_lat = geo.bbox_around(116.6, 35.4, 1000)
    assert geo.haversine_m(116.6, 35.4, max_lng, 35.4) == pytest.approx(1000, rel=1e-3)
    assert geo.haversine_m(116.6, 35.4, 116.6, min_lat) == pytest.approx(1000, rel=1e-3)
    assert min_lng < 116.6 < max_lng and min_lat < 35.4 < max_lat


def test_inverse_is_within_a_millimetre_anywhere_in_china() -> None:
    rng = random.Random(11)
    for _ in range(2000):
        lng, lat = rng.uniform(73.6, 134.9), rng.uniform(18.2, 53.5)
        assert geo.haversine_m(lng, lat, *geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(lng, lat))) < 0.001


def test_batch_conversion_equals_the_scalar_one() -> None:
    """A page of points converted at once (numpy) gives the scalar results, inside China and outside it."""
    from connectors.geo import BATCH_MIN_POINTS, Gcj02Batch, gcj02_to_wgs84, gcj02_to_wgs84_many

    points = [(73.0 + 64.0 * i / 997, 1.0 + 54.0 * ((i * 7919) % 997) / 997) for i in range(997)]
    points += [(-0.1278, 51.5074), (151.2, -33.9)]  # London, Sydney: not shifted
    lngs, lats = gcj02_to_wgs84_many([p[0] for p in points], [p[1] for p in points])
    for (lng, lat), got_lng, got_lat in zip(points, lngs, lats, strict=True):
        want = gcj02_to_wgs84(lng, lat)
        assert abs(got_lng - want[0]) < 1e-12 and abs(got_lat - want[1]) < 1e-12
    assert (lngs[-1], lats[-1]) == points[-1]
    for size in (1, BATCH_MIN_POINTS - 1, BATCH_MIN_POINTS, 300):
        batch = Gcj02Batch()
        indexes = [batch.add(*point) for point in points[:size]]
        got = [batch.wgs84(i) for i in reversed(indexes)]
        want = [gcj02_to_wgs84(*point) for point in reversed(points[:size])]
        assert [c for p in got for c in p] == pytest.approx([c for p in want for c in p], abs=1e-12)


# --- independent oracles: the mocks' shifts ------------------------------------------------------------------------
def test_the_mocks_shift_ground_truth_as_the_published_pairs_do() -> None:
    assert datums.gcj02_from_wgs84(*POINT) == pytest.approx(WGS84_TO_GCJ02, abs=1e-12)
    assert datums.bd09_from_gcj02(*POINT) == pytest.approx(GCJ02_TO_BD09, abs=1e-12)
    assert datums.great_circle_m(*datums.wgs84_from_gcj02(*POINT), *GCJ02_TO_WGS84_APPROX) < 1.0
    bd09_to_gcj02 = datums.gcj02_from_wgs84(*datums.wgs84_from_bd09(*POINT))
    assert datums.great_circle_m(*bd09_to_gcj02, *BD09_TO_GCJ02_APPROX) < 1.0


def test_the_connectors_recover_ground_truth_from_the_mocks_shifted_positions() -> None:
    """The mocks shift with their own code; the connectors' inverses must land back on the truth (not merely undo
    their own forward transform)."""
    rng = random.Random(23)
    for _ in range(500):
        lng, lat = rng.uniform(116.4, 117.0), rng.uniform(35.2, 35.8)
        for sent, recovered in ((datums.gcj02_from_wgs84(lng, lat), geo.gcj02_to_wgs84),
                                (datums.bd09_from_wgs84(lng, lat), geo.bd09_to_wgs84)):
            assert datums.great_circle_m(lng, lat, *recovered(*sent)) < 0.001


@pytest.mark.parametrize("department, class_code", [("water", "0113"), ("transport", "0203")])
async def test_the_gateway_answers_the_ground_truth_positions(
        gateway: httpx.AsyncClient, inventory: Inventory, department: str, class_code: str) -> None:
    """GCJ-02 (water) and BD-09 (transport) on the wire, WGS-84 from the gateway, compared with the inventory the
    mocks were generated from."""
    query = ('{ components(filter: {classCodes: ["%s"], regionCode: "370811"}, first: 50) '  # noqa: UP031
             '{ nodes { id department location { lng lat } } } }' % class_code)
    body = (await gateway.post("/graphql", json={"query": query})).json()
    nodes = body["data"]["components"]["nodes"]
    assert len(nodes) == 50 and {node["department"] for node in nodes} == {department}
    for node in nodes:
        truth = inventory.by_id[node["id"]]
        # 7 decimals on the wire: within 1e-7° (about a centimetre) of the truth
        assert datums.great_circle_m(node["location"]["lng"], node["location"]["lat"], truth.lng, truth.lat) < 0.02
