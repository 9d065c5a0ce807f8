"""Rules of the connector spec, driven as department IT meets them: projected coordinates checked against Gauss-Krüger
computed from first principles (not through pyproj), validation problems in sentences naming the YAML key (CLI and
admin API), the rules and units published in the JSON Schema, and authority over the regions a spec serves."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.fernet import Fernet

from connectors.spec import crs
from connectors.spec.model import validate_spec
from gateway.auth.demo import mint_token
from mocks.city import Inventory
from mocks.gas import API_KEY_HEADER, DEMO_API_KEY, DEVICES_PATH, PROJECTED_CRS, GasInventory
from tests.conftest import TEST_SCALE, MockDepartments
from tests.test_registry import GAS_PORT_OFFSET, GAS_SPEC, _anchor
from tests.test_registry_versions import gas_spec, started_gateway

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "connectors" / "specs"

# --- 4. projected coordinate systems --------------------------------------------------------------------------------
# EPSG registry definitions (https://epsg.io/4548, https://epsg.io/4527): "CGCS2000 / 3-degree Gauss-Kruger CM 117E"
# and "… zone 39" are Transverse Mercator (EPSG method 9807) on the CGCS2000 ellipsoid (EPSG:1024, a = 6 378 137 m,
# 1/f = 298.257222101), latitude of origin 0, longitude of origin 117°E, scale factor 1, false northing 0, false
# easting 500 000 m (CM 117E) or 39 500 000 m (zone 39: the zone number before the easting). EPSG:4549 is CM 120E.
CGCS2000_A, CGCS2000_INVERSE_F = 6_378_137.0, 298.257222101
GAUSS_KRUGER: dict[str, tuple[float, float]] = {"EPSG:4548": (117.0, 500_000.0), "EPSG:4527": (117.0, 39_500_000.0)}
HALF_ZONE_DEG = 1.5  # a 3-degree zone reaches 1.5° either side of its central meridian
TOLERANCE_M = 0.01


def gauss_kruger(lng: float, lat: float, central_meridian: float, false_easting: float) -> tuple[float, float]:
    """Transverse Mercator forward series, Snyder 1987 (USGS Professional Paper 1395, eqs. 3-21, 8-9, 8-10), k0 = 1."""
    f = 1 / CGCS2000_INVERSE_F
    e2 = 2 * f - f * f
    ep2 = e2 / (1 - e2)
    phi, dlam = math.radians(lat), math.radians(lng - central_meridian)
    n = CGCS2000_A / math.sqrt(1 - e2 * math.sin(phi) ** 2)
    t, c, a = math.tan(phi) ** 2, ep2 * math.cos(phi) ** 2, dlam * math.cos(phi)
    m = CGCS2000_A * ((1 - e2 / 4 - 3 * e2**2 / 64 - 5 * e2**3 / 256) * phi
                      - (3 * e2 / 8 + 3 * e2**2 / 32 + 45 * e2**3 / 1024) * math.sin(2 * phi)
                      + (15 * e2**2 / 256 + 45 * e2**3 / 1024) * math.sin(4 * phi)
                      - (35 * e2**3 / 3072) * math.sin(6 * phi))
    x = n * (a + (1 - t + c) * a**3 / 6 + (5 - 18 * t + t * t + 72 * c - 58 * ep2) * a**5 / 120)
    y = m + n * math.tan(phi) * (a * a / 2 + (5 - t + 9 * c + 4 * c * c) * a**4 / 24
                                 + (61 - 58 * t + t * t + 600 * c - 330 * ep2) * a**6 / 720)
    return false_easting + x, y


def projected_systems_in_use() -> dict[str, list[tuple[str, tuple[float, float, float, float]]]]:
    """Each projected system a shipped spec or mock uses → the districts (bounds) it must cover."""
    used: dict[str, list[tuple[str, tuple[float, float, float, float]]]] = {}
    for path in sorted(SPECS.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for name in (document.get("crs"), document["mapping"]["location"].get("crs")):
            if name and crs.area_of_use(name) is not None:
                used.setdefault(name, []).extend(
                    (district, tuple(bounds)) for district, bounds in document.get("district_bounds", {}).items())
    used.setdefault(PROJECTED_CRS, [])
    return used


def test_every_projected_crs_in_use_converts_like_gauss_kruger_from_first_principles() -> None:
    used = projected_systems_in_use()
    assert set(used) <= set(GAUSS_KRUGER), f"add the EPSG definition of {set(used) - set(GAUSS_KRUGER)} here"
    for name, (meridian, false_easting) in {**GAUSS_KRUGER, **{n: GAUSS_KRUGER[n] for n in used}}.items():
        to_projected, to_wgs84 = crs.from_wgs84(name), crs.to_wgs84(name)
        assert to_projected(meridian, 0.0) == pytest.approx((false_easting, 0.0), abs=TOLERANCE_M)  # the origin
        points = [(meridian, 35.4), (116.55, 35.40), (116.80, 35.56)]  # Jining, both sides of 117°E
        for district, (min_lng, min_lat, max_lng, max_lat) in used.get(name, []):
            points.append(((min_lng + max_lng) / 2, (min_lat + max_lat) / 2))
            assert abs((min_lng + max_lng) / 2 - meridian) < HALF_ZONE_DEG, (name, district)  # the right zone
        for lng, lat in points:
            expected = gauss_kruger(lng, lat, meridian, false_easting)
            assert to_projected(lng, lat) == pytest.approx(expected, abs=TOLERANCE_M), (name, lng, lat)
            assert to_wgs84(*expected) == pytest.approx((lng, lat), abs=1e-7), (name, lng, lat)
        assert to_projected(meridian, 35.4)[0] == pytest.approx(false_easting, abs=1e-6)  # on the CM: E = FE


async def test_the_gas_mock_sends_zone_117_metres(mock_departments: MockDepartments) -> None:
    truth = GasInventory(Inventory(scale=TEST_SCALE, anchor=_anchor()))
    url = f"http://127.0.0.1:{mock_departments.base_port + GAS_PORT_OFFSET}{DEVICES_PATH}"
    async with httpx.AsyncClient(timeout=10) as client:
        rows = (await client.get(url, params={"per_page": 20}, headers={API_KEY_HEADER: DEMO_API_KEY})).json()
    assert len(rows) == 20
    meridian, false_easting = GAUSS_KRUGER["EPSG:4548"]
    for row in rows:
        device = truth.by_id[row["deviceNo"]]
        expected = gauss_kruger(device.lng, device.lat, meridian, false_easting)
        assert (row["x"], row["y"]) == pytest.approx(expected, abs=0.01), row["deviceNo"]
        assert abs(row["x"] - false_easting) < 100_000  # Jining lies within 100 km of 117°E


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIWANG_")}
    return subprocess.run([sys.executable, "-m", "gateway.cli", "connectors", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def write_spec(tmp_path: Path, document: dict[str, Any], name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def gas_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(GAS_SPEC.read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("wrong, right", [("EPSG:4549", "EPSG:4548"), ("EPSG:4528", "EPSG:4527")])
def test_a_projected_crs_of_another_zone_is_refused_naming_the_right_one(tmp_path: Path, wrong: str,
                                                                          right: str) -> None:
    document = gas_document()
    document["crs"] = wrong
    result = cli("validate", str(write_spec(tmp_path, document)))
    assert result.returncode == 2, result.stdout
    assert f"crs: {wrong} is meant for 118.5–121.5°E" in result.stderr and "district 370811" in result.stderr
    assert "EPSG:4548" in result.stderr and "EPSG:4527" in result.stderr  # the CM 117°E systems
    document["mapping"]["location"]["crs"] = wrong  # the per-location override is checked as well
    document["crs"] = right
    result = cli("validate", str(write_spec(tmp_path, document)))
    assert result.returncode == 2 and f"mapping.location.crs: {wrong} is meant for" in result.stderr


# --- 7. validation in sentences ---------------------------------------------------------------------------------
PYDANTIC_INTERNALS = ("function-after", "type=", "input_value=", "errors.pydantic.dev", "Value error,",
                      "QueryBinding", "FieldMap", "Input should be", "[type", "ValidationError")


def broken_gas() -> dict[str, Any]:
    document = gas_document()
    params = document["operations"]["search_components"]["params"]
    params["zt"] = {"from": "statuses", "values": {"INTACT": "ZC", "DAMAGED": "SH"}}
    params["bbox"] = {"from": "bbox"}
    params["grid"] = {"from": "grid"}
    document["regions"] = ["370811", "37081"]
    document["retries"] = 3
    document["mapping"]["attributes"]["methane_lel"]["unit"] = "kPa"
    document["operations"]["search_components"]["pagination"] = {"style": "pages"}
    document["auth"] = {"type": "api_key"}
    return document


EXPECTED_SENTENCES = (
    "operations.search_components.params.zt.values: every gateway status must be mapped to the department's value; "
    "add MISSING, OCCUPIED, RETIRED",
    'operations.search_components.params.bbox.format: a bbox parameter needs a format, e.g. format: '
    '"{min_lng},{min_lat},{max_lng},{max_lat}"',
    "operations.search_components.params.grid.from must be one of 'region_codes', 'class_codes', 'grid_code', "
    "'statuses', 'bbox' or 'near', not 'grid'",
    'regions[1] must be a 6-digit GB/T 2260 region code in quotes, e.g. "370811", not \'37081\'',
    "retries is not a spec key: remove it or correct its spelling; the keys at the top level are spec_version,",
    "operations.search_components.pagination.style must be one of 'page', 'offset', 'cursor', 'link_header' "
    "('pages' is not one of them)",
    "auth.key is required: add it",
    "mapping.attributes.methane_lel.unit: unit 'kPa' is a pressure unit; this attribute is in %LEL (methane): "
    "write one of %LEL, %VOL, ppm",
)


def assert_plain(text: str) -> None:
    for internal in PYDANTIC_INTERNALS:
        assert internal not in text, (internal, text)


def test_cli_validate_speaks_in_sentences_naming_the_key(tmp_path: Path) -> None:
    result = cli("validate", str(write_spec(tmp_path, broken_gas())))
    assert result.returncode == 2
    assert "not a valid connector spec (8 problems)" in result.stderr
    for sentence in EXPECTED_SENTENCES:
        assert sentence in result.stderr, (sentence, result.stderr)
    assert_plain(result.stderr)
    unsuffixed = gas_document()
    unsuffixed["mapping"]["attributes"]["flow"] = {"path": "flow", "unit": "L/s"}
    result = cli("validate", str(write_spec(tmp_path, unsuffixed)))
    assert "mapping.attributes.flow: has a unit but its name does not say the gateway's unit: end it with one of" in \
        result.stderr and "_m3h (m³/h)" in result.stderr
    assert_plain(result.stderr)


@pytest.fixture
async def admin_client(mock_departments: MockDepartments, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncExitStack() as stack:
        yield await started_gateway(stack, mock_departments, Fernet.generate_key().decode(),
                                    database_url=f"sqlite:///{tmp_path / 'registry.sqlite3'}")


async def test_the_admin_api_speaks_in_sentences_naming_the_key(admin_client: httpx.AsyncClient,
                                                                  mock_departments: MockDepartments) -> None:
    document = {**broken_gas(), "base_url": gas_spec(mock_departments)["base_url"]}
    for path in ("/admin/connectors", "/admin/connectors/test"):
        answer = await admin_client.post(path, json=document)
        assert answer.status_code == 400, answer.text
        error = answer.json()["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["message"].startswith("the spec is not valid (8 problems): ")
        messages = [detail["message"] for detail in error["extensions"]["details"]]
        for sentence in EXPECTED_SENTENCES:
            assert any(message.startswith(sentence) for message in messages), (sentence, messages)
        assert {d["key"] for d in error["extensions"]["details"]} >= {
            "operations.search_components.params.zt.values", "regions[1]", "retries", "auth.key"}
        assert_plain(answer.text)
    as_yaml = await admin_client.post("/admin/connectors", content=yaml.safe_dump(broken_gas()).encode(),
                                      headers={"content-type": "application/yaml"})
    assert as_yaml.status_code == 400 and "regions[1] must be" in as_yaml.text
    assert_plain(as_yaml.text)


def test_units_departments_send_are_accepted_and_converted(tmp_path: Path) -> None:
    document = gas_document()
    attributes = document["mapping"]["attributes"]
    sent = {"flow_m3h": "L/s", "supply_m3h": "m³/h", "volume_l": "m3", "tank_m3": "L", "fill_pct": "ratio",
            "leak_ratio": "‰", "valve_open_pct": "%", "co_ppm": "ppm", "odour_mgm3": "mg/m3", "pm25": "ug/m3",
            "pm10": "μg/m³", "chlorine_mgl": "mg/L", "noise_db": "dB(A)", "water_c": "℃", "depth_cm": "mm",
            "gauge_kpa": "MPa", "line_mpa": "bar", "cover_m": "cm"}
    for name, unit in sent.items():
        attributes[name] = {"path": name, "type": "number", "unit": unit}
    result = cli("validate", str(write_spec(tmp_path, document)))
    assert result.returncode == 0, result.stderr
    from connectors.spec.units import conversion_factor

    assert conversion_factor("L/s", "m³/h") == pytest.approx(3.6)
    assert conversion_factor("ratio", "%") == pytest.approx(100)
    assert conversion_factor("‰", "%") == pytest.approx(0.1)
    assert conversion_factor("m3/h", "m³/h") == conversion_factor("µg/m³", "μg/m³") == 1.0  # spellings fold
    for name, unit in (("flow_m3h", "kPa"), ("fill_pct", "%LEL"), ("water_c", "K")):
        attributes[name]["unit"] = unit
        with pytest.raises(ValueError, match=rf"mapping\.attributes\.{name}\.unit: "):
            validate_spec(document)
        attributes[name]["unit"] = sent[name]


async def test_the_published_schema_carries_the_rules(admin_client: httpx.AsyncClient) -> None:
    schema = (await admin_client.get("/admin/connectors/spec-schema.json")).json()
    definitions = schema["$defs"]
    statuses = definitions["QueryBinding"]["properties"]["values"]["description"]
    assert all(status in statuses for status in ("INTACT", "DAMAGED", "MISSING", "OCCUPIED", "RETIRED"))
    assert "every status" in statuses
    unit = str(definitions["FieldMap"]["properties"]["unit"]["description"])
    assert all(f" {u}" in unit for u in ("L/s", "m³/h", "L,", "%", "‰", "ratio", "ppm", "mg/m³", "μg/m³", "kPa",
                                          "MPa", "bar", "dB(A)", "°C", "mm", "cm"))
    attributes = definitions["ComponentMapping"]["properties"]["attributes"]["description"]
    assert "_pct (%)" in attributes and "_m3h (m³/h)" in attributes and "_mgl (mg/L)" in attributes
    assert "scope" in schema["properties"]["regions"]["description"]


# --- 8. authority over regions ------------------------------------------------------------------------------------
def operator(tier: str, region: str) -> dict[str, str]:
    token = mint_token(tier, region, ["department_operator"], departments=["gas"], subject=f"gas-it-{region}")
    return {"authorization": f"Bearer {token}"}


async def test_a_spec_must_serve_only_regions_in_the_callers_scope(admin_client: httpx.AsyncClient,
                                                                   mock_departments: MockDepartments) -> None:
    district = operator("DISTRICT", "370811")
    both = gas_spec(mock_departments)  # serves 370811 and 370812
    only_mine = gas_spec(mock_departments, regions=["370811"],
                         district_bounds={"370811": both["district_bounds"]["370811"]})

    for path in ("/admin/connectors", "/admin/connectors/test"):
        refused = await admin_client.post(path, json=both, headers=district)
        assert refused.status_code == 403, refused.text
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "FORBIDDEN" and "region 370812" in error["message"]
        assert error["extensions"]["details"]["regions"] == ["370812"]
    other_city = gas_spec(mock_departments, regions=["370811", "370812", "110101"])
    refused = await admin_client.post("/admin/connectors", json=other_city, headers=operator("MUNICIPAL", "370800"))
    assert refused.status_code == 403 and "region 110101" in refused.text

    first = await admin_client.post("/admin/connectors", json=only_mine, headers=district)
    assert first.status_code == 201, first.text
    assert (await admin_client.post("/admin/connectors/test", json=only_mine, headers=district)).status_code == 200
    city = operator("MUNICIPAL", "370800")
    second = await admin_client.post("/admin/connectors", json=both, headers=city)
    assert second.status_code == 201 and second.json()["version"] == 2

    # The current version serves 370812: the district may neither replace, roll back nor switch it off.
    for method_path, body in ((("POST", "/admin/connectors"), only_mine),
                              (("POST", "/admin/connectors/gas/rollback"), {"version": 1}),
                              (("POST", "/admin/connectors/gas/disable"), None),
                              (("POST", "/admin/connectors/gas/enable"), None)):
        answer = await admin_client.request(*method_path, json=body, headers=district)
        assert answer.status_code == 403, (method_path, answer.text)
        assert answer.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN" and "370812" in answer.text
    other_district = operator("DISTRICT", "370812")
    rolled = await admin_client.post("/admin/connectors/gas/rollback", json={"version": 1}, headers=other_district)
    assert rolled.status_code == 403 and "region 370811" in rolled.text  # v1 and v2 both serve 370811
    assert (await admin_client.post("/admin/connectors/gas/rollback", json={"version": 1}, headers=city)).json()[
        "version"] == 3
    history = (await admin_client.get("/admin/connectors/gas/history")).json()["versions"]
    assert [v["author"] for v in history] == ["gas-it-370811", "gas-it-370800", "gas-it-370800"]
