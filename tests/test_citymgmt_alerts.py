"""The 数字城管 alerts through CityManagementConnector, and the alarm vocabulary against the thresholds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from connectors.citymgmt_dialect import (
    CANONICAL_UNITS,
    METRIC_BY_NAME,
    UNIT_FACTORS,
)
from connectors.records import (
    AlertLevel,
    AlertQuery,
    AlertRecord,
)
from gateway.exceptions import UpstreamBadResponse
from mocks.city import (
    attributes,
)
from mocks.citymgmt import DIALECT_UNITS, METRIC_NAMES
from mocks.citymgmt_data import Alert
from schema.thresholds import load_thresholds
from tests.citymgmt_fixtures import (
    ALERT_APP,
    ALERT_INVENTORY,
    ALERTS,
    UNITS,
    UTC_PLUS_8,
    connected,
    local,
    logged_calls,
    query_of,
    scripted,
    walk,
)


# --- alerts -----------------------------------------------------------------------------------------------------
def assert_alert_record(record: AlertRecord, truth: Alert) -> None:
    assert (record.id, record.component_id, record.metric) == (truth.id, truth.component_id, truth.metric)
    assert record.value == pytest.approx(truth.value, abs=1e-9)
    assert record.threshold == pytest.approx(truth.threshold, abs=1e-9)
    assert record.unit == UNITS[truth.metric]
    assert record.level is AlertLevel(truth.level)
    assert record.raised_at == truth.raised_at and record.raised_at.utcoffset() == UTC_PLUS_8
    assert (record.department_id, record.region_code) == (truth.department_id, truth.region_code)


@pytest.mark.parametrize("first", [1, 4, 9, 50, 600])
async def test_walk_alerts_maps_every_field(first: int) -> None:
    async with connected(ALERT_APP) as connector:
        records = await walk(lambda after, n: connector.search_alerts(AlertQuery(), after, n), first)
    assert len(records) == len(ALERTS)
    for record, truth in zip(records, ALERTS, strict=True):
        assert_alert_record(record, truth)
    pressure = next(r for r in records if r.metric == "pressure")
    expected = attributes(ALERT_INVENTORY.by_id[pressure.component_id], ALERT_INVENTORY.anchor)["pressure_mpa"]
    assert pressure.value == pytest.approx(expected, abs=1e-9)


SOME_ALERT_COMPONENTS = tuple(sorted({a.component_id for a in ALERTS})[::7])
ALERT_TIME = sorted(a.raised_at for a in ALERTS)[len(ALERTS) // 3]
ALERT_FILTERS: dict[str, tuple[AlertQuery, dict[str, str], Callable[[Alert], bool]]] = {
    "regions": (AlertQuery(region_codes=("370812",)), {"sqbm": "370812"}, lambda a: a.region_code == "370812"),
    "components": (AlertQuery(component_ids=SOME_ALERT_COMPONENTS), {"bjbsm": ",".join(SOME_ALERT_COMPONENTS)},
                   lambda a: a.component_id in SOME_ALERT_COMPONENTS),
    "levels": (AlertQuery(levels=(AlertLevel.RED, AlertLevel.ORANGE)), {"bjjb": "一级,二级"},
               lambda a: a.level in ("RED", "ORANGE")),
    "metrics": (AlertQuery(metrics=("pressure", "ph", "noise", "water_temperature")),
                {"jczb": "管网压力,pH值,施工噪声"}, lambda a: a.metric in ("pressure", "ph", "noise")),
    "raised": (AlertQuery(raised_from=ALERT_TIME, raised_to=ALERT_TIME + timedelta(minutes=20)),
               {"bjsjq": local(ALERT_TIME), "bjsjz": local(ALERT_TIME + timedelta(minutes=20))},
               lambda a: ALERT_TIME <= a.raised_at <= ALERT_TIME + timedelta(minutes=20)),
}


@pytest.mark.parametrize("name", sorted(ALERT_FILTERS))
async def test_each_alert_filter_is_pushed_down(name: str) -> None:
    query, sent, predicate = ALERT_FILTERS[name]
    expected = [alert.id for alert in ALERTS if predicate(alert)]
    assert 0 < len(expected) < len(ALERTS)
    async with connected(ALERT_APP) as connector:
        records, calls = await logged_calls(
            ALERT_APP, lambda: walk(lambda after, n: connector.search_alerts(query, after, n), 15))
    assert [record.id for record in records] == expected
    for call in calls:
        assert call["path"] == "/api/alarms"
        params = query_of(call)
        assert {key: params.get(key) for key in sent} == sent


# --- the alarm vocabulary covers the thresholds -----------------------------------------------------------------
def test_every_threshold_metric_is_in_the_alarm_vocabulary() -> None:
    """A metric schema/thresholds.toml alarms on but the feed cannot name would be dropped without a word."""
    thresholds = load_thresholds()
    covered = {rule.metric: rule.unit for rule in thresholds.rules}
    covered[thresholds.heavy_pollution.metric] = thresholds.heavy_pollution.unit
    assert set(covered) <= set(METRIC_NAMES) and set(covered) <= set(METRIC_BY_NAME.values())
    for metric, unit in covered.items():
        assert CANONICAL_UNITS[metric] == unit, metric
        assert DIALECT_UNITS[unit][0] in {dialect for dialect, canonical in UNIT_FACTORS if canonical == unit}


async def test_a_methane_filter_sends_every_word_the_department_uses() -> None:
    async with connected(ALERT_APP) as connector:
        page, calls = await logged_calls(ALERT_APP, lambda: connector.search_alerts(
            AlertQuery(metrics=("methane",)), None, 10))
    assert query_of(calls[0])["jczb"] == "甲烷浓度,可燃气体浓度"
    assert [record.metric for record in page.items] == []  # no methane readings in the city inventory yet


@pytest.mark.parametrize(("name", "value", "unit", "metric", "expected_unit", "expected"), [
    ("施工噪声", 72.5, "dB(A)", "noise", "dB(A)", 72.5),
    ("施工噪声", 58.0, "dBA", "noise", "dB(A)", 58.0),
    ("甲烷浓度", 30.0, "%LEL", "methane", "%LEL", 30.0),
    ("可燃气体浓度", 1.5, "%VOL", "methane", "%LEL", 30.0),  # 100 %LEL = 5 %VOL
    ("可燃气体浓度", 15000, "ppm", "methane", "%LEL", 30.0),  # 100 %LEL = 50,000 ppm
])
async def test_noise_and_methane_alarms_are_read_in_canonical_units(name: str, value: float, unit: str,
                                                                    metric: str, expected_unit: str,
                                                                    expected: float) -> None:
    row = {"bjid": "BJ20261031000001", "bjbsm": "3708110111000001", "jczb": name, "jcz": value, "dw": unit,
           "yz": value, "bjjb": "三级", "bjsj": "2026-10-31 23:10:00", "ssbm": "housing", "sqbm": "370811"}
    connector = scripted({"success": True, "total": 1, "rows": [row]})
    record = (await connector.search_alerts(AlertQuery(), None, 5)).items[0]
    await connector.aclose()
    assert (record.metric, record.unit) == (metric, expected_unit)
    assert record.value == pytest.approx(expected) and record.threshold == pytest.approx(expected)


async def test_noise_in_unweighted_decibels_is_a_bad_response() -> None:
    row = {"bjid": "BJ20261031000001", "bjbsm": "3708110602000001", "jczb": "施工噪声", "jcz": 60.0, "dw": "dB",
           "yz": 55.0, "bjjb": "三级", "bjsj": "2026-10-31 23:10:00", "ssbm": "housing", "sqbm": "370811"}
    connector = scripted({"success": True, "total": 1, "rows": [row]})
    with pytest.raises(UpstreamBadResponse):
        await connector.search_alerts(AlertQuery(), None, 5)
    await connector.aclose()
