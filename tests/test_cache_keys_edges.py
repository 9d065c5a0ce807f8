"""Edges of the cache's keys, freshness and tags (gateway/cache/keys.py over connectors/calls.py) that the typed-call
tests left unwatched: the tags an answer's own records file it under, which TTL wins, and the caller's view."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from connectors.calls import (
    READING_CLASSES,
    DepartmentCall,
    GetComponents,
    GetEvents,
    GetRegionStats,
    SearchAlerts,
    SearchComponents,
    SearchEvents,
    perform,
)
from connectors.records import (
    AlertLevel,
    AlertQuery,
    AlertRecord,
    ComponentQuery,
    ComponentRecord,
    ComponentStatus,
    EventKind,
    EventQuery,
    EventRecord,
    EventSource,
    EventStatus,
    SearchPage,
)
from connectors.statistics import RegionStats
from gateway.auth.policy import Access, load_policy
from gateway.auth.principal import Principal, Tier
from gateway.cache.keys import connector_key, data_kind, fresh_ttl, tags_of, view_key
from gateway.plugins import UpstreamFetch
from tests.test_calls import COVER, HYDRANT, SCOPE, Recording

T0 = datetime(2026, 11, 1, tzinfo=timezone(timedelta(hours=8)))


def component(record_id: str, class_code: str, region: str) -> ComponentRecord:
    return ComponentRecord(id=record_id, class_code=class_code, name="", status=ComponentStatus.INTACT,
                           region_code=region, grid_code="", lng=117.0, lat=35.0, department_id="water",
                           department_name="", owner=None, maintainer=None, updated_at=T0)


def case(record_id: str, kind: EventKind, class_code: str, region: str, component_id: str | None) -> EventRecord:
    return EventRecord(id=record_id, kind=kind, class_code=class_code, source=EventSource.INSPECTOR,
                       status=EventStatus.REGISTERED, description="", address="", lng=117.0, lat=35.0,
                       region_code=region, grid_code="", component_id=component_id, handling_department=None,
                       reported_at=T0, deadline=None, closed_at=None, reporter_name=None, reporter_phone=None)


def fetch(call: DepartmentCall[Any], connector: Recording | None = None, request: Any = None) -> UpstreamFetch[Any]:
    return UpstreamFetch(connector or Recording(), call, SCOPE, request)


def test_a_component_in_the_answer_files_it_under_its_region_class_and_id() -> None:
    page = SearchPage(items=[component(HYDRANT, "0113", "370899")], positions=["p"], total=1, has_more=False)
    call = SearchComponents(ComponentQuery(region_codes=("370811",), class_codes=("0101",)), None, 5)
    assert tags_of(fetch(call), page) == {
        "department:water", "region:370811", "class:0101", "class:COMPONENT:0101",  # what the call asked for
        "region:370899", "class:0113", "class:COMPONENT:0113", f"component:{HYDRANT}"}  # what came back


def test_a_case_is_filed_under_its_case_tag_its_kind_of_class_and_its_component() -> None:
    street = case("E1", EventKind.EVENT, "0102", "370812", None)
    cover = case("E2", EventKind.COMPONENT, "0101", "370811", COVER)
    assert tags_of(fetch(GetEvents(("E1", "E2"))), [street, cover]) == {
        "department:water", "event:E1", "event:E2", "region:370812", "region:370811",
        "class:EVENT:0102",  # an 事件 class never takes the bare class tag of the 部件 catalogue
        "class:0101", "class:COMPONENT:0101", f"component:{COVER}"}


def test_an_alert_is_filed_under_its_component_not_its_own_id() -> None:
    alert = AlertRecord(id="A1", component_id=HYDRANT, metric="pressure", value=0.1, unit="MPa", threshold=0.2,
                        level=AlertLevel.RED, raised_at=T0, department_id="water", region_code="370811")
    assert tags_of(fetch(GetComponents((HYDRANT,))), [alert]) == {
        "department:water", f"component:{HYDRANT}", "class:0113", "class:COMPONENT:0113", "region:370811"}


def test_an_answer_that_is_no_list_of_records_adds_no_tags() -> None:
    assert tags_of(fetch(GetEvents(("E1",))), component(HYDRANT, "0113", "370899")) == {
        "department:water", "event:E1"}


def test_which_freshness_wins() -> None:
    cases = fetch(SearchEvents(EventQuery(), None, 5))
    assert fresh_ttl(cases, {}) == 30.0  # the default for events
    assert fresh_ttl(cases, {"events": 5}) == 5
    assert fresh_ttl(cases, {"water.events": 7, "events": 5}) == 7  # the department's own override first
    assert fresh_ttl(cases, {"gas.events": 7, "events": 5}) == 5
    assert fresh_ttl(cases, {"water.events": 0, "events": 5}) is None  # 0: not cached

    class Declares(Recording):
        cache_ttls: ClassVar[Mapping[str, float | None]] = {"events": 9.0, "registry": 0.0}

    assert fresh_ttl(fetch(SearchEvents(EventQuery(), None, 5), Declares()), {}) == 9.0
    assert fresh_ttl(fetch(GetComponents((COVER,)), Declares()), {}) is None
    assert fresh_ttl(fetch(GetComponents((HYDRANT,)), Declares()), {}) == 15.0  # not declared: the default


def caller(tier: Tier, region: str, *roles: str) -> Access:
    return Access(Principal(subject="s", tier=tier, region_code=region, roles=frozenset(roles)), load_policy())


def test_the_view_key_names_scope_tier_roles_and_masking() -> None:
    viewer = caller(Tier.MUNICIPAL, "370800", "viewer")
    assert view_key(viewer)[:-1] == (*viewer.scope_key(), "MUNICIPAL", ("viewer",))
    assert view_key(viewer)[-1] and all(isinstance(level, str) for level in view_key(viewer)[-1])
    assert view_key(caller(Tier.MUNICIPAL, "370800", "viewer", "inspector"))[-2] == ("inspector", "viewer")
    assert view_key(viewer) != view_key(caller(Tier.MUNICIPAL, "370800", "dispatcher"))
    assert view_key(viewer) == view_key(caller(Tier.MUNICIPAL, "370800", "viewer"))


class Context:
    def __init__(self, access: Any) -> None:
        self.access = access


def test_callers_who_see_a_personal_field_differently_never_share_an_entry() -> None:
    cases = SearchEvents(EventQuery(), None, 5)
    levels = {}
    for role in ("viewer", "inspector", "dispatcher", "platform_admin"):
        access = caller(Tier.MUNICIPAL, "370800", role)
        levels[role] = (view_key(access)[-1], connector_key(fetch(cases, request=Context(access))))
    by_level: dict[Any, set[str]] = {}
    for level, key in levels.values():
        by_level.setdefault(level, set()).add(key)
    assert len(by_level) > 1 and all(len(keys) == 1 for keys in by_level.values())
    assert len({key for key in (k for _, k in levels.values())}) == len(by_level)
    assert connector_key(fetch(cases, request=Context(None))) == connector_key(fetch(cases))
    anonymous = dataclasses.replace(caller(Tier.MUNICIPAL, "370800", "viewer"))
    assert connector_key(fetch(cases, request=Context(anonymous))) != connector_key(fetch(cases))


# --- connectors/calls.py --------------------------------------------------------------------------------------------
async def test_a_case_search_passes_its_resume_position_on() -> None:
    connector = Recording()
    query = EventQuery(region_codes=("370811",))
    assert await perform(connector, SearchEvents(query, "p3", 7)) == ("search_events", query, "p3", 7)


def test_an_alert_search_about_components_is_filed_under_them() -> None:
    call = SearchAlerts(AlertQuery(region_codes=("370812",), component_ids=(HYDRANT,)), None, 5)
    assert tags_of(fetch(call), []) == {"department:water", "region:370812", f"component:{HYDRANT}"}


def test_the_kind_of_component_data_counts_only_classes_the_department_serves() -> None:
    gauge = next(iter(READING_CLASSES - Recording.component_classes))  # a reading class water does not serve
    assert data_kind(fetch(SearchComponents(ComponentQuery(class_codes=("0101", gauge)), None, 5))) == "registry"

    class ServesAnything(Recording):
        component_classes = frozenset()

    asked = SearchComponents(ComponentQuery(class_codes=("0113",)), None, 5)
    assert data_kind(fetch(asked, ServesAnything())) == "readings"  # no declared classes: what was asked counts


def test_statistics_are_filed_under_their_regions() -> None:
    call = GetRegionStats(("370812",), T0, T0)
    assert tags_of(fetch(call), [RegionStats("370811")]) == {"department:water", "region:370812", "region:370811"}
