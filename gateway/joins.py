"""Joins (``event.component``, ``component.events``, ``component.alerts``, ``event(id)``, ``component(id)``) through
DataLoaders, so a list of 100 cases costs one batched call per department, not 100.

A join raises the department's ``UpstreamError`` when the department it needs failed; the resolver records it at its
path (``gateway.context.loaded``). Records from outside the caller's scope are dropped and logged under the
department that sent them.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from strawberry.dataloader import DataLoader

from connectors.base import Connector
from connectors.calls import DepartmentCall, GetComponents, GetEvents, SearchAlerts, SearchEvents
from connectors.records import AlertQuery, AlertRecord, ComponentRecord, EventQuery, EventRecord, SearchPage
from gateway.exceptions import UpstreamError
from gateway.scoping import check_component, in_scope

if TYPE_CHECKING:
    from gateway.context import RequestContext

RelatedT = TypeVar("RelatedT", EventRecord, AlertRecord)
ID_BATCH_SIZE = 100
RELATED_PAGE_SIZE = 1000
RELATED_MAX_PAGES = 20
Sent = tuple[str, RelatedT]  # (the department that sent it, the record)


class JoinLoaders:
    """The DataLoaders of one request; made on its first join (most requests join nothing)."""

    def __init__(self, context: RequestContext) -> None:
        self.context = context
        self.components: DataLoader[str, ComponentRecord | None] = DataLoader(
            self._load_components, max_batch_size=ID_BATCH_SIZE * 10)
        self.events: DataLoader[str, EventRecord | None] = DataLoader(self._load_events)
        self.events_by_component: DataLoader[str, list[Sent[EventRecord]]] = DataLoader(
            self._load_events_by_component)
        self.alerts_by_component: DataLoader[str, list[Sent[AlertRecord]]] = DataLoader(
            self._load_alerts_by_component)

    async def component(self, component_id: str) -> ComponentRecord | None:
        access = self.context.access
        check_component(access, component_id)
        connector = self.context.connectors.for_component_id(component_id)
        if connector is not None:
            access.departments((connector.department_id,))
        record = await self.components.load(component_id)
        if record is not None and not in_scope(access, connector.department_id if connector else "?", record):
            return None
        return record

    async def event(self, event_id: str) -> EventRecord | None:
        access = self.context.access
        access.require("events")
        record = await self.events.load(event_id)
        if record is not None:
            access.check_region(record.region_code, f"case {event_id}")
        return record

    async def events_for_component(self, component_id: str) -> list[EventRecord]:
        self.context.access.require("events")
        return self._in_scope(await self.events_by_component.load(component_id))

    async def alerts_for_component(self, component_id: str) -> list[AlertRecord]:
        self.context.access.require("alerts")
        return self._in_scope(await self.alerts_by_component.load(component_id))

    def _in_scope(self, sent: list[Sent[RelatedT]]) -> list[RelatedT]:
        access = self.context.access
        return [record for department, record in sent if in_scope(access, department, record)]

    async def _load_components(self, ids: Sequence[str]) -> list[ComponentRecord | UpstreamError | None]:
        context = self.context
        grouped: dict[str, list[str]] = defaultdict(list)
        for component_id in dict.fromkeys(ids):
            connector = context.connectors.for_component_id(component_id)
            if connector is not None:
                grouped[connector.department_id].append(component_id)
        fetches = []
        for department, department_ids in grouped.items():
            connector = context.connectors.get(department)
            assert connector is not None
            fetches.append(context.fetch(connector, GetComponents(tuple(department_ids))))
        found: dict[str, ComponentRecord | UpstreamError] = {}
        for (_, department_ids), result in zip(grouped.items(), await context.gather(fetches), strict=True):
            if isinstance(result, UpstreamError):
                found.update(dict.fromkeys(department_ids, result))
            else:
                found.update((record.id, record) for record in result)
        return [found.get(component_id) for component_id in ids]

    async def _load_events(self, ids: Sequence[str]) -> list[EventRecord | UpstreamError | None]:
        context = self.context
        call = GetEvents(tuple(ids))
        results = await context.gather([context.fetch(c, call) for c in context.connectors.for_events(None)])
        found: dict[str, EventRecord] = {}
        failure: UpstreamError | None = None
        for result in results:
            if isinstance(result, UpstreamError):
                failure = failure or result
            else:
                found.update((record.id, record) for record in result)
        return [found.get(i) or failure for i in ids]

    async def _load_events_by_component(self, ids: Sequence[str]) -> list[list[Sent[EventRecord]] | UpstreamError]:
        query = EventQuery(component_ids=tuple(ids))

        def page(after: str | None) -> SearchEvents:
            return SearchEvents(query, after, RELATED_PAGE_SIZE)

        return await _Related(self.context, page).by_component(self.context.connectors.for_events(None), ids)

    async def _load_alerts_by_component(self, ids: Sequence[str]) -> list[list[Sent[AlertRecord]] | UpstreamError]:
        query = AlertQuery(component_ids=tuple(ids))

        def page(after: str | None) -> SearchAlerts:
            return SearchAlerts(query, after, RELATED_PAGE_SIZE)

        return await _Related(self.context, page).by_component(self.context.connectors.for_alerts(None), ids)


@dataclass(frozen=True, slots=True)
class _Related(Generic[RelatedT]):
    """Every case or alarm about a batch of components, from every department that serves them, page after page."""

    context: RequestContext
    page_call: Callable[[str | None], DepartmentCall[SearchPage[RelatedT]]]

    async def everything(self, connector: Connector) -> list[RelatedT] | UpstreamError:
        out: list[RelatedT] = []
        after: str | None = None
        for _ in range(RELATED_MAX_PAGES):
            try:
                page = await self.context.call(connector, self.page_call(after))
            except UpstreamError as error:
                return error
            out.extend(page.items)
            if not page.has_more or not page.items:
                break
            after = page.positions[-1]
        return out

    async def by_component(self, connectors: Sequence[Connector],
                           ids: Sequence[str]) -> list[list[Sent[RelatedT]] | UpstreamError]:
        grouped: dict[str, list[Sent[RelatedT]]] = defaultdict(list)
        failure: UpstreamError | None = None
        results = await asyncio.gather(*(self.everything(c) for c in connectors))
        for connector, result in zip(connectors, results, strict=True):
            if isinstance(result, UpstreamError):
                failure = failure or result
                continue
            for record in result:
                if record.component_id is not None:
                    grouped[record.component_id].append((connector.department_id, record))
        return [failure if failure is not None and not grouped.get(i) else grouped.get(i, []) for i in ids]
