"""Typed department calls (``connectors.calls``): each call type reaches its connector method through the one
dispatcher, a call type it does not know is refused as a bug, and the cache reads keys, kinds and tags from the
calls' own fields."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import httpx
import pytest

from connectors import calls
from connectors.base import Connector
from connectors.calls import (
    CHECK_HEALTH,
    DepartmentCall,
    GetComponents,
    GetEvents,
    GetRegionStats,
    SearchAlerts,
    SearchComponents,
    SearchEvents,
    UnknownCall,
    perform,
)
from connectors.records import (
    AlertLevel,
    AlertQuery,
    BBox,
    ComponentQuery,
    ComponentStatus,
    EventKind,
    EventQuery,
    EventSource,
    Near,
)
from gateway.auth.policy import Access, load_policy
from gateway.auth.principal import Principal, Tier
from gateway.cache.keys import connector_key, data_kind, fresh_ttl, tags_of
from gateway.exceptions import UpstreamBadResponse
from gateway.fanout import call_department
from gateway.plugins import UpstreamFetch

T0 = datetime(2026, 11, 1, tzinfo=timezone(timedelta(hours=8)))
T1 = T0 + timedelta(days=1)
HYDRANT = "3708110113000001"
COVER = "3708110101000002"


class Recording(Connector):
    """Answers every operation with its own name and arguments."""

    department_id = "water"
    department_name = "供水排水 Water supply and drainage"
    component_classes = frozenset({"0101", "0113"})

    def __init__(self) -> None:
        super().__init__(httpx.AsyncClient(), regions=("370811", "370812"))
        self.asked: list[tuple[Any, ...]] = []

    def _answer(self, *asked: Any) -> tuple[Any, ...]:
        self.asked.append(asked)
        return asked

    async def get_components(self, ids: Sequence[str]) -> Any:
        return self._answer("get_components", ids)

    async def search_components(self, query: ComponentQuery, after: str | None, first: int) -> Any:
        return self._answer("search_components", query, after, first)

    async def get_events(self, ids: Sequence[str]) -> Any:
        return self._answer("get_events", ids)

    async def search_events(self, query: EventQuery, after: str | None, first: int) -> Any:
        return self._answer("search_events", query, after, first)

    async def search_alerts(self, query: AlertQuery, after: str | None, first: int) -> Any:
        return self._answer("search_alerts", query, after, first)

    async def region_stats(self, region_codes: Sequence[str], start: datetime, end: datetime) -> Any:
        return self._answer("region_stats", region_codes, start, end)

    async def check_health(self) -> Any:
        return self._answer("check_health")


COMPONENTS = ComponentQuery(region_codes=("370811",), class_codes=("0113",))
EVENTS = EventQuery(classes=((EventKind.EVENT, "0102"),))
ALERTS = AlertQuery(component_ids=(HYDRANT,))
DISPATCHED: list[tuple[DepartmentCall[Any], tuple[Any, ...]]] = [
    (SearchComponents(COMPONENTS, "p1", 5), ("search_components", COMPONENTS, "p1", 5)),
    (GetComponents((HYDRANT, COVER)), ("get_components", (HYDRANT, COVER))),
    (SearchEvents(EVENTS, None, 7), ("search_events", EVENTS, None, 7)),
    (GetEvents(("2026110100001",)), ("get_events", ("2026110100001",))),
    (SearchAlerts(ALERTS, "p2", 9), ("search_alerts", ALERTS, "p2", 9)),
    (GetRegionStats(("370811",), T0, T1), ("region_stats", ("370811",), T0, T1)),
    (CHECK_HEALTH, ("check_health",)),
]


class Unknown(DepartmentCall[None]):
    __slots__ = ()
    name = "unknown"


@pytest.mark.parametrize(("call", "expected"), DISPATCHED, ids=lambda value: getattr(value, "name", ""))
async def test_each_call_reaches_its_connector_method(call: DepartmentCall[Any], expected: tuple[Any, ...]) -> None:
    connector = Recording()
    assert await perform(connector, call) == expected
    assert await call_department(UpstreamFetch(connector, call)) == expected  # the gateway's path: the same place
    assert connector.asked == [expected, expected]
    assert expected[0] == call.name  # the label spans and metrics carry is the connector method's name


def test_every_call_type_is_dispatched_by_the_tests() -> None:
    defined = {value for value in vars(calls).values()
               if isinstance(value, type) and issubclass(value, DepartmentCall) and value is not DepartmentCall}
    assert defined == {type(call) for call, _ in DISPATCHED}
    assert len({call.name for call, _ in DISPATCHED}) == len(DISPATCHED)


async def test_a_call_type_the_dispatcher_does_not_know_is_refused_as_a_bug() -> None:
    connector = Recording()
    with pytest.raises(UnknownCall, match="Unknown"):
        perform(connector, Unknown())
    with pytest.raises(UnknownCall, match=r"add it to connectors\.calls\.perform"):  # not a department failure
        await call_department(UpstreamFetch(connector, Unknown()))
    assert connector.asked == []


async def test_a_connector_that_fails_is_still_a_bad_response() -> None:
    class Broken(Recording):
        async def get_events(self, ids: Sequence[str]) -> Any:
            raise KeyError("no such field")

    with pytest.raises(UpstreamBadResponse):
        await call_department(UpstreamFetch(Broken(), GetEvents(("1",))))


# --- cache keys from typed fields --------------------------------------------------------------------------------
class Context:
    def __init__(self, access: Access) -> None:
        self.access = access


SCOPE = ("3708", False, None)


def key(call: DepartmentCall[Any], scope_key: tuple[Any, ...] = SCOPE, request: Any = None,
        connector: Connector | None = None) -> str:
    return connector_key(UpstreamFetch(connector or Recording(), call, scope_key, request))


def test_calls_differing_only_in_the_order_of_a_filter_share_a_key() -> None:
    one = SearchComponents(ComponentQuery(region_codes=("370811", "370812"), class_codes=("0113", "0101"),
                                          statuses=(ComponentStatus.INTACT, ComponentStatus.DAMAGED)), None, 20)
    other = SearchComponents(ComponentQuery(region_codes=("370812", "370811"), class_codes=("0101", "0113"),
                                            statuses=(ComponentStatus.DAMAGED, ComponentStatus.INTACT)), None, 20)
    assert one != other and key(one) == key(other)
    cases = EventQuery(classes=((EventKind.EVENT, "0102"), (EventKind.COMPONENT, "0102")),
                       sources=(EventSource.SENSOR, EventSource.INSPECTOR))
    reordered = EventQuery(classes=((EventKind.COMPONENT, "0102"), (EventKind.EVENT, "0102")),
                           sources=(EventSource.INSPECTOR, EventSource.SENSOR))
    assert key(SearchEvents(cases, "p", 5)) == key(SearchEvents(reordered, "p", 5))
    levels = AlertQuery(levels=(AlertLevel.RED, AlertLevel.YELLOW), metrics=("pm25", "aqi"))
    assert key(SearchAlerts(levels, None, 5)) == key(SearchAlerts(AlertQuery(
        levels=(AlertLevel.YELLOW, AlertLevel.RED), metrics=("aqi", "pm25")), None, 5))


BASE = SearchComponents(ComponentQuery(region_codes=("370811",), class_codes=("0113",)), None, 20)
VARIANTS = {
    "region": dataclasses.replace(BASE, query=dataclasses.replace(BASE.query, region_codes=("370812",))),
    "grid": dataclasses.replace(BASE, query=dataclasses.replace(BASE.query, grid_code="370811001001001")),
    "class": dataclasses.replace(BASE, query=dataclasses.replace(BASE.query, class_codes=("0101",))),
    "status": dataclasses.replace(BASE, query=dataclasses.replace(BASE.query, statuses=(ComponentStatus.INTACT,))),
    "bbox": dataclasses.replace(BASE, query=dataclasses.replace(BASE.query, bbox=BBox(117.0, 35.0, 117.1, 35.1))),
    "near": dataclasses.replace(BASE, query=dataclasses.replace(BASE.query, near=Near(117.0, 35.0, 500.0))),
    "after": dataclasses.replace(BASE, after="p1"),
    "first": dataclasses.replace(BASE, first=21),
}


@pytest.mark.parametrize("field", sorted(VARIANTS))
def test_calls_differing_in_any_field_do_not_share_a_key(field: str) -> None:
    assert key(VARIANTS[field]) != key(BASE)


def test_the_call_type_scope_masking_and_connector_version_are_in_the_key() -> None:
    ids = (HYDRANT,)
    assert key(GetComponents(ids)) != key(GetEvents(ids))
    assert key(BASE, scope_key=("370811", False, None)) != key(BASE)
    stats = GetRegionStats(("370811",), T0, T0 + timedelta(days=1))
    assert key(stats) != key(dataclasses.replace(stats, end=T0 + timedelta(days=2)))
    assert key(stats) != key(dataclasses.replace(stats, start=T0 - timedelta(days=1)))
    assert key(stats) != key(dataclasses.replace(stats, region_codes=("370812",)))
    policy = load_policy()
    viewer, dispatcher = (Access(Principal(subject="m", tier=Tier.MUNICIPAL, region_code="370800",
                                           roles=frozenset({role})), policy) for role in ("viewer", "dispatcher"))
    assert viewer.scope_key() == dispatcher.scope_key()  # the same region: only the masking level differs
    cases = SearchEvents(EVENTS, None, 5)
    assert key(cases, request=Context(viewer)) != key(cases, request=Context(dispatcher))
    assert key(cases, request=Context(viewer)) == key(cases, request=Context(viewer))

    class Newer(Recording):
        version = "2"

    assert key(BASE, connector=Newer()) != key(BASE)


def fetch(call: DepartmentCall[Any]) -> UpstreamFetch[Any]:
    return UpstreamFetch(Recording(), call, SCOPE)


def test_the_data_kind_comes_from_the_call() -> None:
    assert data_kind(fetch(BASE)) == "readings"  # hydrants carry a pressure reading
    assert data_kind(fetch(dataclasses.replace(BASE, query=ComponentQuery(class_codes=("0101",))))) == "registry"
    assert data_kind(fetch(SearchComponents(ComponentQuery(), None, 5))) == "readings"  # what the department serves
    assert data_kind(fetch(GetComponents((COVER,)))) == "registry"
    assert data_kind(fetch(GetComponents((COVER, HYDRANT)))) == "readings"
    assert data_kind(fetch(GetEvents(("1",)))) == data_kind(fetch(SearchEvents(EVENTS, None, 5))) == "events"
    assert data_kind(fetch(SearchAlerts(ALERTS, None, 5))) == "alerts"
    assert data_kind(fetch(GetRegionStats(("370811",), T0, T0))) == "stats"
    assert data_kind(fetch(CHECK_HEALTH)) is None and fresh_ttl(fetch(CHECK_HEALTH), {"registry": 60}) is None


def test_a_write_is_never_cached_whatever_its_kind() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class CloseCase(DepartmentCall[None]):
        name: ClassVar[str] = "close_case"
        writes: ClassVar[bool] = True
        case_id: str

        def data_kind(self, connector: Connector) -> str:
            return "events"

    assert data_kind(fetch(CloseCase("1"))) is None
    assert fresh_ttl(fetch(CloseCase("1")), {"events": 60}) is None
    assert fresh_ttl(fetch(GetEvents(("1",))), {"events": 60}) == 60


def test_tags_name_what_the_call_is_about() -> None:
    assert tags_of(fetch(GetComponents((HYDRANT,))), []) == {
        "department:water", f"component:{HYDRANT}", "class:0113", "class:COMPONENT:0113"}
    assert tags_of(fetch(GetEvents(("2026110100001",))), []) == {"department:water", "event:2026110100001"}
    assert tags_of(fetch(SearchEvents(EventQuery(region_codes=("370811",), classes=((EventKind.EVENT, "0102"),),
                                                 component_ids=(COVER,)), None, 5)), []) == {
        "department:water", "region:370811", "class:EVENT:0102", f"component:{COVER}"}
    assert tags_of(fetch(SearchComponents(ComponentQuery(), None, 5)), []) == {
        "department:water", "region:370811", "region:370812",
        "class:0101", "class:COMPONENT:0101", "class:0113", "class:COMPONENT:0113"}
    assert tags_of(fetch(SearchAlerts(AlertQuery(region_codes=("370812",)), None, 5)), []) == {
        "department:water", "region:370812"}
    assert tags_of(fetch(GetRegionStats(("370812",), T0, T0)), []) == {"department:water", "region:370812"}
    assert tags_of(fetch(CHECK_HEALTH), None) == {"department:water"}
