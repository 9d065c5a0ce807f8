"""Searches across departments: the scope checked and pushed down, the departments picked, their pages merged by id
(``gateway.pagination.merge_walk``) under a cursor bound to the filter; and the statistics of a region summed from
every department that counts there.

The answers carry the departments that failed (``failures``) for the resolver to record at its path
(``gateway.context.reported``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from connectors.base import Connector
from connectors.calls import DepartmentCall, GetRegionStats, SearchAlerts, SearchComponents, SearchEvents
from connectors.records import (
    AlertQuery,
    AlertRecord,
    ComponentQuery,
    ComponentRecord,
    EventQuery,
    EventRecord,
    SearchPage,
)
from connectors.spec.connector import DepartmentSkipped
from connectors.statistics import RegionStats
from gateway.exceptions import UpstreamError
from gateway.fanout import Partial
from gateway.pagination import CursorState, MergedPage, fingerprint, merge_walk
from gateway.scoping import SearchScope, check_component_classes, in_scope, known_departments, scoped_region

if TYPE_CHECKING:
    from gateway.context import RequestContext

QueryT = TypeVar("QueryT", ComponentQuery, EventQuery, AlertQuery)
CaseQueryT = TypeVar("CaseQueryT", EventQuery, AlertQuery)
RecordT = TypeVar("RecordT", ComponentRecord, EventRecord, AlertRecord)
PageCall = Callable[[QueryT, str | None, int], DepartmentCall[SearchPage[RecordT]]]


async def components(context: RequestContext, query: ComponentQuery, scope: SearchScope, first: int,
                     after: str | None) -> MergedPage[ComponentRecord]:
    access = context.access
    prefix = scoped_region(access, scope)
    query = dataclasses.replace(query, class_codes=access.component_classes(query.class_codes))
    known_departments(context.connectors, scope.departments)
    departments = access.departments(scope.departments)
    connectors = context.connectors.for_components(query.class_codes, prefix, departments)
    return await _merged(context, "components", connectors, (query, prefix, departments, access.scope_key()),
                         first, after, SearchComponents, query, prefix)


async def events(context: RequestContext, query: EventQuery, scope: SearchScope, first: int,
                 after: str | None) -> MergedPage[EventRecord]:
    return await _about_components(context, "events", context.connectors.for_events, SearchEvents, query, scope,
                                   first, after)


async def alerts(context: RequestContext, query: AlertQuery, scope: SearchScope, first: int,
                 after: str | None) -> MergedPage[AlertRecord]:
    return await _about_components(context, "alerts", context.connectors.for_alerts, SearchAlerts, query, scope,
                                   first, after)


async def _about_components(context: RequestContext, kind: str, route: Callable[[str | None], list[Connector]],
                            page_call: PageCall[CaseQueryT, RecordT], query: CaseQueryT, scope: SearchScope,
                            first: int, after: str | None) -> MergedPage[RecordT]:
    """Cases or alarms: a kind the caller must be allowed, filtered by components of classes it may see."""
    access = context.access
    access.require(kind)
    prefix = scoped_region(access, scope)
    check_component_classes(access, query.component_ids)
    return await _merged(context, kind, route(prefix), (query, prefix, access.scope_key()), first, after, page_call,
                         query, prefix)


async def district_stats(context: RequestContext, region_prefix: str | None, start: datetime,
                         end: datetime) -> Partial[list[RegionStats]]:
    """Raw counts per district inside the requested region (which must lie in the caller's scope)."""
    access = context.access
    access.require("stats")
    prefix = access.scope_region(region_prefix)
    connectors = context.connectors.for_stats(prefix)
    results = await context.gather(
        [context.fetch(c, GetRegionStats(c.regions_within(prefix), start, end)) for c in connectors])
    rows: list[RegionStats] = []
    failures: list[UpstreamError] = []
    for connector, result in zip(connectors, results, strict=True):
        if isinstance(result, UpstreamError):
            failures.append(result)
            continue
        for row in result:
            if row.region_code.startswith(prefix) and in_scope(access, connector.department_id, row):
                rows.append(row)
    return Partial(rows, failures)


@dataclass(frozen=True, slots=True)
class DepartmentSearch(Generic[QueryT, RecordT]):
    """One department's part of a merged search (a ``pagination.DepartmentSource``): its query, narrowed to the
    districts it serves inside the searched region, asked page by page through the request's plugins."""

    context: RequestContext
    connector: Connector
    page_call: PageCall[QueryT, RecordT]
    query: QueryT
    keep: Callable[[RecordT], bool]  # ``scoping.in_scope`` for the caller and this department

    @property
    def department(self) -> str:
        return self.connector.department_id

    async def page(self, after: str | None, size: int) -> SearchPage[RecordT] | UpstreamError:
        try:
            return await self.context.call(self.connector, self.page_call(self.query, after, size))
        except UpstreamError as error:
            return error
        except DepartmentSkipped as skipped:
            self.context.failures.skip(skipped)
            return SearchPage(items=[], positions=[], total=0, has_more=False)


async def _merged(
    context: RequestContext,
    kind: str,
    connectors: Sequence[Connector],
    filter_parts: tuple[Any, ...],
    first: int,
    after: str | None,
    page_call: PageCall[QueryT, RecordT],
    query: QueryT,
    prefix: str,
) -> MergedPage[RecordT]:
    # The filter's fingerprint binds cursors to it; computed only when a cursor is read or written.
    fingerprints: list[str] = []

    def filter_fingerprint() -> str:
        if not fingerprints:
            fingerprints.append(fingerprint(*filter_parts))
        return fingerprints[0]

    codec = context.codec
    start = codec.decode(after, kind=kind, fingerprint=filter_fingerprint()) if after is not None else None
    # Each department is asked only for the districts it serves inside the (already scoped) region.
    by_department = {c.department_id: c for c in connectors}
    sources = [DepartmentSearch(context, c, page_call,
                                dataclasses.replace(query, region_codes=c.regions_within(prefix)),
                                keep=partial(in_scope, context.access, c.department_id))
               for c in by_department.values()]

    def encode(positions: dict[str, str | None], totals: dict[str, int]) -> str:
        return codec.encode(CursorState(kind, filter_fingerprint(), positions, totals))

    return await merge_walk(sources, first=first, start=start, encode=encode)
