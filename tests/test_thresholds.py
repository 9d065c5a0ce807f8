"""Alarm thresholds kept as data with their sources (schema/thresholds.toml), the HJ 633-2012 AQI, heavy-pollution
warnings from the forecast daily-mean AQI, and mock readings that are mostly normal.

The HJ 633 tables and the cited limits are restated here, so the gateway and the data file are checked against an
independent reading of the standards."""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.client import DepartmentClient
from connectors.environment import EnvironmentConnector
from mocks.city import CHINA_TZ, Inventory, anchor_from_date, aqi_forecast, attributes
from mocks.citymgmt_data import generate_alerts
from schema.thresholds import DEFAULT_THRESHOLDS_PATH, load_thresholds
from tests.conftest import TEST_ANCHOR, TEST_SCALE, MockDepartments, graphql

# HJ 633-2012 表1: IAQI steps and concentration breakpoints (µg/m³, CO mg/m³). Hourly readings: 1-hour tables for
# SO2 (up to 800, beyond it the 24-hour table), NO2, CO and O3; 24-hour tables for PM10 and PM2.5.
IAQI = (0, 50, 100, 150, 200, 300, 400, 500)
HJ633 = {
    "so2": (0, 150, 500, 650, 800),
    "no2": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    "pm10": (0, 50, 150, 250, 350, 420, 500, 600),
    "co": (0, 5, 10, 35, 60, 90, 120, 150),
    "o3": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "pm25": (0, 35, 75, 115, 150, 250, 350, 500),
}
SO2_24H = (0, 50, 150, 475, 800, 1600, 2100, 2620)


def iaqi(pollutant: str, value: float) -> int:
    table = SO2_24H if pollutant == "so2" and value > 800 else HJ633[pollutant]
    for i in range(1, len(table)):
        if value <= table[i]:
            exact = (IAQI[i] - IAQI[i - 1]) / (table[i] - table[i - 1]) * (value - table[i - 1]) + IAQI[i - 1]
            return math.ceil(round(exact, 9))
    return 500


def aqi(readings: dict[str, Any]) -> tuple[int, set[str]]:
    sub = {p: iaqi(p, readings[p]) for p in HJ633}
    top = max(sub.values())
    return top, ({p for p, v in sub.items() if v == top} if top > 50 else set())


@pytest.mark.parametrize(("pollutant", "value", "expected"), [
    ("pm25", 115, 150), ("pm25", 35, 50), ("pm25", 35.1, 51), ("pm25", 75, 100), ("pm10", 150, 100),
    ("o3", 160, 50), ("o3", 250, 125), ("no2", 200, 100), ("co", 10, 100), ("so2", 800, 200), ("so2", 801, 201),
    ("pm25", 600, 500),
])
def test_iaqi_follows_hj633(pollutant: str, value: float, expected: int) -> None:
    assert iaqi(pollutant, value) == expected
    assert load_thresholds().aqi.iaqi_of(pollutant, value) == expected


def test_aqi_is_the_largest_iaqi_and_names_the_primary_pollutant_above_50() -> None:
    tables = load_thresholds().aqi
    readings = {"pm25": 115.0, "pm10": 40.0, "so2": 5.0, "no2": 20.0, "o3": 60.0, "co": 0.5}
    index = tables.index(readings)
    assert (index.aqi, index.primary_pollutants) == (150, ("pm25",))
    clean = {**readings, "pm25": 30.0}
    assert tables.index(clean).aqi == 43 and tables.index(clean).primary_pollutants == ()  # 优: no 首要污染物


AIR_QUALITY = """
  nodes { id ... on AirQualityStation { aqi primaryPollutants pm25 pm10 so2 no2 o3 co
                                       hourly { aqi primaryPollutants pm25 pm10 so2 no2 o3 co } } }"""


async def test_gateway_aqi_is_the_largest_of_six_iaqis(gateway: httpx.AsyncClient) -> None:
    body = await graphql(gateway, f"""{{ components(filter: {{departments: ["environment"]}}, first: 500) {{
        {AIR_QUALITY} }} }}""")
    stations = body["data"]["components"]["nodes"]
    assert len(stations) == round(30 * TEST_SCALE) * 2
    primaries: set[str] = set()
    readings = [station for station in stations] + [hour for station in stations for hour in station["hourly"]]
    for reading in readings:
        expected, primary = aqi(reading)
        assert reading["aqi"] == expected, reading
        assert set(reading["primaryPollutants"]) == primary, reading  # 首要污染物, shown to front-ends
        primaries |= primary
    assert {"o3", "pm25"} <= primaries, "the AQI is set by more than particulates"


HAND_MADE = """<?xml version="1.0" encoding="utf-8"?>
<StationResult xmlns="http://tempuri.org/"><Total>1</Total><Stations><Station>
<StationCode>3708120308000009</StationCode><StationName>测试站</StationName><TypeCode>0308</TypeCode>
<RegionCode>370812</RegionCode><GridCode>370812001010001</GridCode><Longitude>116.8</Longitude>
<Latitude>35.55</Latitude><Status>正常</Status><Authority>济宁市生态环境局</Authority>
<UpdateTime>2026/10/01 08:00:00</UpdateTime><DataTime>2026/10/01 08:00:00</DataTime>
<AQI>-</AQI><PM25>115</PM25><PM10>90</PM10><SO2>9</SO2><NO2>30</NO2><O3>70</O3><CO>0.6</CO>
<HourlyData><Hour Time="2026/10/01 08:00:00"><AQI>-</AQI><PM25>20</PM25><PM10>30</PM10><SO2>9</SO2><NO2>30</NO2>
<O3>70</O3><CO>0.6</CO></Hour></HourlyData>
</Station></Stations></StationResult>"""


async def test_connector_computes_an_aqi_the_department_left_out() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=HAND_MADE))
    connector = EnvironmentConnector(DepartmentClient("http://environment", transport=transport))
    [record] = await connector.get_components(["3708120308000009"])
    assert (record.attributes["aqi"], record.attributes["primary_pollutants"]) == (150.0, ["pm25"])
    [hour] = record.attributes["hourly"]
    assert (hour["aqi"], hour["primary_pollutants"]) == (aqi(hour)[0], []) == (30, [])


# --- alarms at the cited thresholds ---------------------------------------------------------------------------
DAY = datetime(2026, 11, 1, 14, 0, tzinfo=CHINA_TZ)
NIGHT = datetime(2026, 11, 1, 23, 0, tzinfo=CHINA_TZ)
# (class, readings, expected (metric, level, threshold) or None, a standard the alarm must cite)
BOUNDARIES: list[tuple[str, dict[str, Any], tuple[str, str, float] | None, str]] = [
    ("0113", {"pressure_mpa": 0.14}, None, ""),
    ("0113", {"pressure_mpa": 0.139}, ("pressure", "ORANGE", 0.14), "GB 50974"),
    ("2141", {"pressure_mpa": 0.10}, ("pressure", "ORANGE", 0.14), "GB 55036"),
    ("2141", {"pressure_mpa": 0.099}, ("pressure", "RED", 0.10), "GB 50974"),
    ("2142", {"turbidity_ntu": 1.0}, None, ""),
    ("2142", {"turbidity_ntu": 1.01}, ("turbidity", "YELLOW", 1.0), "GB 5749-2022"),
    ("2142", {"ph": 6.5}, None, ""), ("2142", {"ph": 8.5}, None, ""),
    ("2142", {"ph": 6.49}, ("ph", "YELLOW", 6.5), "GB 5749-2022"),
    ("2142", {"ph": 8.51}, ("ph", "YELLOW", 8.5), "GB 5749-2022"),
    ("2142", {"sampling_point": "出厂", "residual_chlorine_mgl": 0.3}, None, ""),
    ("2142", {"sampling_point": "出厂", "residual_chlorine_mgl": 2.0}, None, ""),
    ("2142", {"sampling_point": "出厂", "residual_chlorine_mgl": 0.29}, ("residual_chlorine", "YELLOW", 0.3),
     "GB 5749-2022"),
    ("2142", {"sampling_point": "出厂", "residual_chlorine_mgl": 2.01}, ("residual_chlorine", "YELLOW", 2.0),
     "GB 5749-2022"),
    ("2142", {"sampling_point": "末梢", "residual_chlorine_mgl": 0.05}, None, ""),
    ("2142", {"sampling_point": "末梢", "residual_chlorine_mgl": 0.2}, None, ""),  # fine at the tap, low at a plant
    ("2142", {"sampling_point": "末梢", "residual_chlorine_mgl": 0.049}, ("residual_chlorine", "YELLOW", 0.05),
     "GB 5749-2022"),
    ("2143", {"ponding_depth_cm": 15.0}, None, ""),
    ("2143", {"ponding_depth_cm": 15.1}, ("ponding_depth", "YELLOW", 15.0), "GB 51222"),
    ("0602", {"noise_db": 70.0, "reading_at": DAY}, None, ""),
    ("0602", {"noise_db": 70.1, "reading_at": DAY}, ("noise", "YELLOW", 70.0), "GB 12523-2011"),
    ("0602", {"noise_db": 55.0, "reading_at": NIGHT}, None, ""),
    ("0602", {"noise_db": 55.1, "reading_at": NIGHT}, ("noise", "YELLOW", 55.0), "GB 12523-2011"),
    ("0602", {"noise_db": 60.0, "reading_at": DAY.replace(hour=22)}, ("noise", "YELLOW", 55.0), "GB 12523-2011"),
    ("0602", {"noise_db": 60.0, "reading_at": DAY.replace(hour=6)}, None, ""),
    ("0135", {"methane_lel": 24.9}, None, ""),
    ("0135", {"methane_lel": 25.0}, ("methane", "ORANGE", 25.0), "GB/T 50493"),
    ("0111", {"methane_lel": 50.0}, ("methane", "RED", 50.0), "GB 15322"),
]


@pytest.mark.parametrize(("class_code", "readings", "expected", "cited"), BOUNDARIES)
def test_alarms_fire_exactly_at_the_cited_thresholds(class_code: str, readings: dict[str, Any],
                                                      expected: tuple[str, str, float] | None, cited: str) -> None:
    alarms = load_thresholds().alarms(class_code, readings)
    if expected is None:
        assert alarms == []
        return
    [alarm] = alarms
    assert (alarm.metric, alarm.level, alarm.threshold) == expected
    assert cited in alarm.source


@pytest.mark.parametrize(("forecast", "expected"), [
    ([200, 200, 200, 200, 200], None),  # the grades start above 200
    ([150, 201, 150], ("BLUE", 200)),
    ([201, 150, 201], ("BLUE", 200)),  # two days, not in a row
    ([120, 201, 250, 180], ("YELLOW", 200)),
    ([201, 300, 201], ("YELLOW", 200)),  # 300 is not above 300
    ([201, 301, 201], ("ORANGE", 300)),
    ([201, 301, 301, 201], ("RED", 300)),
    ([201, 301, 250, 201], ("ORANGE", 300)),
    ([499], ("BLUE", 200)),
    ([500], ("RED", 500)),
])
def test_heavy_pollution_warnings_grade_the_forecast_daily_mean(forecast: list[float],
                                                                expected: tuple[str, float] | None) -> None:
    warning = load_thresholds().heavy_pollution.warning(forecast)
    assert (None if warning is None else (warning.level, warning.threshold)) == expected
    if warning is not None:
        assert warning.metric == "aqi" and "预警" in warning.source


def test_every_threshold_cites_a_standard() -> None:
    thresholds = load_thresholds()
    standard = re.compile(r"\b(GB|GB/T|HJ|CJJ|CJJ/T)\s?\d")
    for rule in thresholds.rules:
        assert standard.search(rule.source), rule
    assert standard.search(thresholds.aqi.source)
    assert {rule.metric for rule in thresholds.rules} >= {
        "pressure", "turbidity", "ph", "residual_chlorine", "ponding_depth", "noise", "methane"}


def test_a_rule_without_a_source_is_refused(tmp_path: Path) -> None:
    text = DEFAULT_THRESHOLDS_PATH.read_text(encoding="utf-8")
    unsourced = tmp_path / "thresholds.toml"
    unsourced.write_text(text.replace('source = "GB 12523-2011 §4.1 表1: 建筑施工场界环境噪声排放限值 昼间 70 dB(A)"',
                                      'source = ""', 1), encoding="utf-8")
    with pytest.raises(ValueError, match="cites its source"):
        load_thresholds(str(unsourced))


# --- the alarm feed and the mock's readings -------------------------------------------------------------------
async def test_heavy_pollution_alerts_come_from_the_forecast(gateway: httpx.AsyncClient, inventory: Inventory,
                                                             mock_departments: MockDepartments) -> None:
    body = await graphql(gateway, """{ alerts(filter: {metric: ["aqi"]}, first: 100) {
        nodes { componentId value threshold level } } }""")
    served = {(a["componentId"], a["value"], a["threshold"], a["level"]) for a in body["data"]["alerts"]["nodes"]}
    expected = set()
    for component in inventory.by_id.values():
        if component.class_code == "0308":
            warning = load_thresholds().heavy_pollution.warning(aqi_forecast(component.seed))
            if warning is not None:
                expected.add((component.id, warning.value, warning.threshold, warning.level))
    assert served == expected and served
    assert all(a[1] > 200 for a in served)


# The test's own bands (the cited limits); a reading inside is normal.
NORMAL: dict[str, Any] = {
    "pressure_mpa": lambda r: r["pressure_mpa"] >= 0.14,
    "turbidity_ntu": lambda r: r["turbidity_ntu"] <= 1.0,
    "ph": lambda r: 6.5 <= r["ph"] <= 8.5,
    "residual_chlorine_mgl": lambda r: (0.3 <= r["residual_chlorine_mgl"] <= 2.0 if r["sampling_point"] == "出厂"
                                        else r["residual_chlorine_mgl"] >= 0.05),
    "ponding_depth_cm": lambda r: r["ponding_depth_cm"] <= 15.0,
    "noise_db": lambda r: r["noise_db"] <= (70.0 if 6 <= r["reading_at"].hour < 22 else 55.0),
    "aqi": lambda r: r["aqi"] <= 150,
}


def test_mock_readings_are_mostly_normal() -> None:
    inventory = Inventory(scale=TEST_SCALE, anchor=anchor_from_date(TEST_ANCHOR))
    seen = dict.fromkeys(NORMAL, 0)
    normal = dict.fromkeys(NORMAL, 0)
    for component in inventory.by_id.values():
        readings = attributes(component, inventory.anchor)
        for name, within in NORMAL.items():
            if name in readings:
                seen[name] += 1
                normal[name] += within(readings)
    for name in NORMAL:
        assert seen[name] >= 50, name
        assert normal[name] / seen[name] >= 0.9, (name, normal[name], seen[name])
    assert sum(normal.values()) / sum(seen.values()) >= 0.93
    assert any(normal[name] < seen[name] for name in NORMAL), "some readings are out of band"
    alerts = generate_alerts(inventory)
    assert {a.level for a in alerts} == {"RED", "ORANGE", "YELLOW", "BLUE"}


async def test_water_quality_stations_say_where_the_sample_was_taken(gateway: httpx.AsyncClient) -> None:
    """GB 5749-2022 sets free chlorine by sampling point, so front-ends get it as a typed field."""
    body = await graphql(gateway, """{ components(filter: {departments: ["water"], classCodes: ["2142"]}, first: 500) {
        nodes { ... on WaterQualityStation { samplingPoint residualChlorineMgl } } } }""")
    nodes = [node for node in body["data"]["components"]["nodes"] if node]
    assert nodes and {node["samplingPoint"] for node in nodes} == {"出厂", "末梢"}


# GB 12523-2011 表1 and §3, restated: 建筑施工场界 limits 70 dB(A) 昼间 (06:00–22:00), 55 dB(A) 夜间, local time.
NOISE_DAY_LIMIT, NOISE_NIGHT_LIMIT = 70.0, 55.0
DAY_FROM_HOUR, NIGHT_FROM_HOUR = 6, 22


async def test_construction_noise_alarms_reach_the_alarm_feed(gateway: httpx.AsyncClient,
                                                              inventory: Inventory) -> None:
    body = await graphql(gateway, """{ alerts(filter: {metric: ["noise"]}, first: 100) { totalCount
        pageInfo { hasNextPage } nodes { componentId metric value unit threshold level raisedAt department } } }""")
    alerts = body["data"]["alerts"]
    nodes = alerts["nodes"]
    assert nodes and alerts["totalCount"] == len(nodes) and not alerts["pageInfo"]["hasNextPage"]
    for node in nodes:
        hour = datetime.fromisoformat(node["raisedAt"]).astimezone(CHINA_TZ).hour
        day = DAY_FROM_HOUR <= hour < NIGHT_FROM_HOUR
        limit = NOISE_DAY_LIMIT if day else NOISE_NIGHT_LIMIT
        assert (node["metric"], node["unit"], node["threshold"]) == ("noise", "dB(A)", limit), node
        assert node["value"] > limit, node
        assert inventory.by_id[node["componentId"]].class_code == "0602" and node["department"] == "housing"
    # The mock's readings are from the hour before its midnight anchor: night in Asia/Shanghai, day in UTC, so a
    # period taken in the wrong time zone would show as the day limit here.
    # Every site over its limit is in the feed: an independent count from the mock's readings.
    over = set()
    for component in inventory.by_id.values():
        if component.class_code == "0602":
            readings = attributes(component, inventory.anchor)
            hour = readings["reading_at"].astimezone(CHINA_TZ).hour
            limit = NOISE_DAY_LIMIT if DAY_FROM_HOUR <= hour < NIGHT_FROM_HOUR else NOISE_NIGHT_LIMIT
            if readings["noise_db"] > limit:
                over.add(component.id)
    assert {node["componentId"] for node in nodes} == over
