"""The request context split: joins drop out-of-scope records under the department that sent them, ``merge_walk``
merges department sources and lists the ones that failed, and failures get the resolver's path."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from connectors.base import Connector
from connectors.records import AlertLevel, AlertQuery, AlertRecord, SearchPage
from gateway.auth.policy import Access, load_policy
from gateway.auth.principal import Principal, Tier
from gateway.context import RequestContext, loaded, reported
from gateway.exceptions import UpstreamError, UpstreamUnavailable
from gateway.pagination import DONE, CursorCodec, MergedPage, merge_walk
from gateway.router import ConnectorSet

T0 = datetime(2026, 11, 1, tzinfo=timezone(timedelta(hours=8)))
HYDRANT = "3708110113000001"
MUNICIPAL = Principal(subject="m", tier=Tier.MUNICIPAL, region_code="370800", roles=frozenset({"viewer"}))


def alert(alert_id: str, region_code: str, department: str) -> AlertRecord:
    return AlertRecord(id=alert_id, component_id=HYDRANT, metric="pressure_mpa", value=0.1, unit="MPa",
                       threshold=0.14, level=AlertLevel.ORANGE, raised_at=T0, department_id=department,
                       region_code=region_code)


class Sanitation(Connector):
    """A department that raises alarms, one of them from outside the caller's city."""

    department_id = "sanitation"
    department_name = "环卫 Sanitation"
    serves_alerts = True

    def __init__(self) -> None:
        super().__init__(httpx.AsyncClient(), regions=("370811",))

    async def search_alerts(self, query: AlertQuery, after: str | None, first: int) -> SearchPage[AlertRecord]:
        items = [alert("A1", "370811", self.department_id), alert("A2", "370911", self.department_id)]
        return SearchPage(items=items, positions=["1", "2"], total=2, has_more=False)


async def test_a_joined_record_outside_the_scope_is_logged_under_the_department_that_sent_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="yiwang.policy")
    context = RequestContext(ConnectorSet([Sanitation()]), CursorCodec(b"k" * 32),
                             access=Access(MUNICIPAL, load_policy()))
    alerts = await context.joins.alerts_for_component(HYDRANT)
    assert [a.id for a in alerts] == ["A1"]
    removed = [r.getMessage() for r in caplog.records if "outside the scope" in r.getMessage()]
    assert len(removed) == 1 and removed[0].startswith("department sanitation returned A2")


class Source:
    def __init__(self, department: str, pages: Sequence[SearchPage[Any] | UpstreamError],
                 refuse: frozenset[str] = frozenset()) -> None:
        self.department = department
        self.pages = list(pages)
        self.refuse = refuse
        self.asked: list[tuple[str | None, int]] = []

    async def page(self, after: str | None, size: int) -> SearchPage[Any] | UpstreamError:
        self.asked.append((after, size))
        return self.pages.pop(0)

    def keep(self, record: Any) -> bool:
        return bool(record.id not in self.refuse)


def records(*ids: str) -> SearchPage[Any]:
    return SearchPage(items=[SimpleNamespace(id=i) for i in ids], positions=[f"@{i}" for i in ids], total=len(ids),
                      has_more=False)


def encode(positions: dict[str, str | None], totals: dict[str, int]) -> str:
    return repr((sorted(positions.items()), sorted(totals.items())))


async def test_merge_walk_merges_sources_by_id_and_lists_the_ones_that_failed() -> None:
    down = UpstreamUnavailable("transport", "transport: connection refused")
    water = Source("water", [records("1", "3", "5")], refuse=frozenset({"3"}))
    housing = Source("housing", [records("2", "4")])
    transport = Source("transport", [down])
    page = await merge_walk([water, housing, transport], first=3, start=None, encode=encode)
    assert [r.id for r in page.items] == ["1", "2", "4"]  # 3 is not kept, and keeps nobody's position back
    assert page.failures == [down]
    assert page.has_next  # the failed department may still have items
    assert page.total == 5
    assert page.end_cursor() == encode({"water": "@1", "housing": DONE, "transport": None}, {"water": 3, "housing": 2})
    assert water.asked == [(None, 3)] and housing.asked == [(None, 3)] and transport.asked == [(None, 3)]


class Info:
    """What a resolver's ``info`` offers: the request context and the field's path."""

    def __init__(self, context: RequestContext, *path: str | int) -> None:
        self.context = context
        self.path = SimpleNamespace(as_list=lambda: list(path))


async def test_failures_get_the_path_of_the_resolver_that_met_them() -> None:
    context = RequestContext(ConnectorSet([]), CursorCodec(b"k" * 32))
    down = UpstreamUnavailable("water", "water: connection refused")
    page: MergedPage[Any] = MergedPage([], 0, True, [], [], {}, {}, encode, failures=[down])
    assert reported(Info(context, "components"), page) is page
    assert context.failures.by_department["water"].path == ["components"]

    async def failing_join() -> None:
        raise UpstreamUnavailable("citymgmt", "citymgmt: connection refused")

    assert await loaded(Info(context, "events", 0, "component", "events"), failing_join(), []) == []
    assert context.failures.by_department["citymgmt"].path == ["events", 0, "component", "events"]
    assert await loaded(Info(context, "x"), _value(7), None) == 7


async def _value(value: int) -> int:
    return value
