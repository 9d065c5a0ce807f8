"""The 数字城管 generated data: cases and the alerts recomputed here from the inventory's readings."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta, timezone

from connectors.records import (
    EventStatus,
)
from mocks.city import (
    DEPARTMENT_NAMES,
    DEPARTMENT_OF_CLASS,
    DISTRICTS,
    BaseComponent,
    Inventory,
    aqi_forecast,
    attributes,
    distance_m,
    reading_time,
)
from mocks.citymgmt_data import generate_cases
from schema.codes import load_catalogue
from tests.citymgmt_fixtures import ALERT_INVENTORY, ALERTS, CASES, INVENTORY, PHONE, UNITS, UTC_PLUS_8


# --- the generated data ----------------------------------------------------------------------------------------
def test_case_volume_kinds_and_ids() -> None:
    per_district = Counter(case.region_code for case in CASES)
    assert per_district == {code: round(3000 * INVENTORY.scale) for code in DISTRICTS}
    kinds = Counter(case.kind for case in CASES)
    assert 0.5 < kinds["COMPONENT"] / len(CASES) < 0.7
    ids = [case.id for case in CASES]
    assert ids == sorted(set(ids)), "ascending and unique"
    for case in CASES:
        assert len(case.id) == 13 and case.id.isdigit()
        assert case.id[:8] == f"{case.reported_at:%Y%m%d}"
    assert generate_cases(INVENTORY) == CASES, "deterministic"


def test_component_cases_follow_their_component() -> None:
    component_cases = [case for case in CASES if case.kind == "COMPONENT"]
    for case in component_cases:
        assert case.component_id is not None
        component = INVENTORY.get(case.component_id)
        assert component is not None
        assert case.class_code == component.class_code
        assert (case.region_code, case.grid_code) == (component.region_code, component.grid_code)
        assert DISTRICTS[case.region_code].grid_code(case.lng, case.lat) == case.grid_code
        assert distance_m(case.lng, case.lat, component.lng, component.lat) < 10
        assert case.handling_department == DEPARTMENT_NAMES[DEPARTMENT_OF_CLASS[component.class_code]]
        assert case.address.startswith(DISTRICTS[case.region_code].name + component.road)
    assert {case.source for case in component_cases} == {"INSPECTOR", "PUBLIC_REPORT", "HOTLINE_12345", "SENSOR"}


def test_event_cases_use_the_event_catalogue() -> None:
    event_classes = load_catalogue().events
    event_cases = [case for case in CASES if case.kind == "EVENT"]
    for case in event_cases:
        assert case.component_id is None and case.source != "SENSOR"
        assert case.class_code in event_classes
        district = DISTRICTS[case.region_code]
        assert district.contains(case.lng, case.lat) and district.grid_code(case.lng, case.lat) == case.grid_code
        assert case.address.startswith(district.name)
        assert not case.handling_department.startswith("济宁市")
        assert "街道" in case.handling_department or case.handling_department.startswith(district.name)


def test_workflow_times_and_statuses() -> None:
    anchor = INVENTORY.anchor
    statuses = Counter(case.status for case in CASES)
    assert statuses["CLOSED"] / len(CASES) > 0.6, "most cases are closed"
    assert set(statuses) <= {status.value for status in EventStatus}
    for case in CASES:
        assert anchor - timedelta(days=90) <= case.reported_at < anchor
        if case.status == "PENDING_ACCEPTANCE":
            assert case.deadline is None
        else:
            assert case.deadline is not None
            limit = case.deadline - case.reported_at
            if case.urgent:
                assert limit == timedelta(hours=2)
            else:
                assert timedelta(days=1) <= limit <= timedelta(days=5)
        if case.status == "CLOSED":
            assert case.closed_at is not None and case.reported_at <= case.closed_at <= anchor
        else:
            assert case.closed_at is None
    overdue = sum(case.overdue for case in CASES)
    assert 0 < overdue < statuses["CLOSED"] / 2


def test_reporters_only_for_public_reports_and_hotline() -> None:
    for case in CASES:
        if case.source in ("PUBLIC_REPORT", "HOTLINE_12345"):
            assert case.reporter_name and 2 <= len(case.reporter_name) <= 3
            assert case.reporter_phone and PHONE.fullmatch(case.reporter_phone)
        else:
            assert case.reporter_name is None and case.reporter_phone is None


# The cited thresholds (schema/thresholds.toml), restated here so the generator is checked against an independent
# reading: GB 50974/GB 55036 (hydrant mains ≥ 0.14 MPa, ≥ 0.10 MPa in a fire), GB 5749-2022 (turbidity ≤ 1 NTU,
# pH 6.5–8.5, free chlorine 出厂 0.3–2 mg/L, 末梢 ≥ 0.05 mg/L), GB 51222/GB 50014 (a lane's ponding ≤ 15 cm), and
# 重污染天气预警 from the forecast daily-mean AQI (domain.md §5).
def heavy_pollution_level(days: list[float]) -> tuple[str, float] | None:
    runs: list[list[float]] = []
    current: list[float] = []
    for aqi in [*days, 0.0]:
        if aqi > 200:
            current.append(aqi)
        elif current:
            runs.append(current)
            current = []
    if any(d >= 500 for d in days):
        return "RED", 500.0
    for level, length, severe in (("RED", 4, 2), ("ORANGE", 3, 1)):
        if any(len(run) >= length and sum(a > 300 for a in run) >= severe for run in runs):
            return level, 300.0
    longest = max((len(run) for run in runs), default=0)
    return ("YELLOW", 200.0) if longest >= 2 else ("BLUE", 200.0) if longest == 1 else None


def expected_alerts(inventory: Inventory) -> set[tuple[str, str, float, str, float]]:
    """(component id, metric, value, level, threshold) of every reading beyond a threshold."""
    out: set[tuple[str, str, float, str, float]] = set()

    def check(metric: str, value: float, broken: list[tuple[bool, float, str]]) -> None:
        hits = [(limit, level) for is_broken, limit, level in broken if is_broken]
        if hits:
            limit, level = min(hits, key=lambda hit: ("RED", "ORANGE", "YELLOW", "BLUE").index(hit[1]))
            out.add((component.id, metric, value, level, limit))

    component: BaseComponent
    for component in inventory.by_id.values():
        readings = attributes(component, inventory.anchor)
        code = component.class_code
        if code in ("0113", "2141"):
            p = readings["pressure_mpa"]
            check("pressure", p, [(p < 0.14, 0.14, "ORANGE"), (p < 0.10, 0.10, "RED")])
        elif code == "2142":
            t, ph, cl = readings["turbidity_ntu"], readings["ph"], readings["residual_chlorine_mgl"]
            check("turbidity", t, [(t > 1.0, 1.0, "YELLOW")])
            check("ph", ph, [(ph < 6.5, 6.5, "YELLOW"), (ph > 8.5, 8.5, "YELLOW")])
            if readings["sampling_point"] == "出厂":
                check("residual_chlorine", cl, [(cl < 0.3, 0.3, "YELLOW"), (cl > 2.0, 2.0, "YELLOW")])
            else:
                check("residual_chlorine", cl, [(cl < 0.05, 0.05, "YELLOW")])
        elif code == "2143":
            d = readings["ponding_depth_cm"]
            check("ponding_depth", d, [(d > 15.0, 15.0, "YELLOW")])
        elif code == "0602":
            # GB 12523-2011: 昼间 06:00–22:00 local time, 70 dB(A); 夜间 55 dB(A).
            n, hour = readings["noise_db"], readings["reading_at"].astimezone(timezone(UTC_PLUS_8)).hour
            limit = 70.0 if 6 <= hour < 22 else 55.0
            check("noise", n, [(n > limit, limit, "YELLOW")])
        elif code == "0308":
            forecast = aqi_forecast(component.seed)
            warning = heavy_pollution_level(forecast)
            if warning is not None:
                out.add((component.id, "aqi", max(forecast), warning[0], warning[1]))
    return out


def test_alerts_follow_the_readings() -> None:
    assert {(a.component_id, a.metric, a.value, a.level, a.threshold) for a in ALERTS} == \
        expected_alerts(ALERT_INVENTORY)
    assert {a.metric for a in ALERTS} == set(UNITS), "every metric is represented"
    assert len({a.level for a in ALERTS}) == 4
    assert [a.id for a in ALERTS] == sorted({a.id for a in ALERTS})
    for alert in ALERTS:
        component = ALERT_INVENTORY.by_id[alert.component_id]
        assert alert.unit == UNITS[alert.metric]
        assert alert.raised_at == reading_time(component, ALERT_INVENTORY.anchor)
        assert alert.department_id == DEPARTMENT_OF_CLASS[component.class_code]
        assert alert.region_code == component.region_code
