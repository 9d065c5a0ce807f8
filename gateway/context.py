"""Per-request state: DataLoaders for joins, the failed departments, and the search entry points the schema calls.

One ``RequestContext`` per GraphQL request. Joins (``event.component``, ``component.events``) go through
DataLoaders, so a list of 100 cases costs one batched call per department, not 100.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from starlette.requests import Request
from strawberry.dataloader import DataLoader

from connectors.base import Connector
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
from gateway.auth.policy import Access, load_policy, log_out_of_scope
from gateway.auth.principal import NATIONAL_REGION, NATIONAL_SERVICE
from gateway.exceptions import UpstreamError, UserInputError
from gateway.fanout import UpstreamFailures, call_department, gather_departments, health_problem, path_of
from gateway.pagination import CursorCodec, CursorState, MergedPage, fingerprint, merge_walk
from gateway.plugins import Plugin, UpstreamFetch
from gateway.router import ConnectorSet
from schema.codes import component_class_of, region_of

RecordT = TypeVar("RecordT")
CHINA_TZ = timezone(timedelta(hours=8))
ID_BATCH_SIZE = 100
RELATED_PAGE_SIZE = 1000
RELATED_MAX_PAGES = 20


@dataclasses.dataclass(frozen=True, slots=True)
class RegionArgument:
    """An argument that names a region, and the region prefix it names: ``regionCode`` its own, ``gridCode`` and
    ``componentId`` the 6-digit division their code begins with."""

    argument: str
    prefix: str


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """Routing facts for a search that are not part of the connector query."""

    regions: tuple[RegionArgument, ...] = ()
    departments: tuple[str, ...] | None = None


class RequestContext:
    def __init__(self, connectors: ConnectorSet, codec: CursorCodec, request: Request | None = None,
                 access: Access | None = None, plugins: Sequence[Plugin] = ()) -> None:
        self.connectors = connectors
        self.plugins = plugins
        self.access = access or Access(NATIONAL_SERVICE, load_policy())
        self.codec = codec
        self.request = request
        self.now = datetime.now(CHINA_TZ)
        self.failures = UpstreamFailures()
        self._loaders: dict[str, DataLoader[str, Any]] = {}  # made on first use: most requests join nothing
        self._health: dict[str, Awaitable[str | None]] = {}

    def fetch(self, connector: Connector, operation: str, *args: Any) -> UpstreamFetch:
        return UpstreamFetch(connector, operation, args, self.access.scope_key(), self)

    async def call(self, connector: Connector, operation: str, *args: Any) -> Any:
        return await call_department(self.fetch(connector, operation, *args), self.plugins)

    async def gather(self, fetches: Sequence[UpstreamFetch]) -> list[Any]:
        return await gather_departments(fetches, self.plugins)

    # --- joins -----------------------------------------------------------------------------------------------------
    async def component_by_id(self, component_id: str, info: Any = None) -> ComponentRecord | None:
        what = f"component {component_id}"
        self.access.check_region(region_of(component_id), what)
        self.access.check_component_class(component_class_of(component_id), what)
        connector = self.connectors.for_component_id(component_id)
        if connector is not None:
            self.access.departments((connector.department_id,))
        record = await self._load_reporting(self._loader("components"), component_id, info)
        if record is not None and not self._keep(connector.department_id if connector else "?", record):
            return None
        return record

    async def event_by_id(self, event_id: str, info: Any = None) -> EventRecord | None:
        self.access.require("events")
        record: EventRecord | None = await self._load_reporting(self._loader("events"), event_id, info)
        if record is not None:
            self.access.check_region(record.region_code, f"case {event_id}")
        return record

    async def events_for_component(self, component_id: str, info: Any = None) -> list[EventRecord]:
        self.access.require("events")
        records = await self._load_reporting(self._loader("events_by_component"), component_id, info) or []
        return [r for r in records if self._keep("citymgmt", r)]

    async def alerts_for_component(self, component_id: str, info: Any = None) -> list[AlertRecord]:
        self.access.require("alerts")
        records = await self._load_reporting(self._loader("alerts_by_component"), component_id, info) or []
        return [r for r in records if self._keep("citymgmt", r)]

    def _loader(self, name: str) -> DataLoader[str, Any]:
        loader = self._loaders.get(name)
        if loader is None:
            batch_size = ID_BATCH_SIZE * 10 if name == "components" else None
            loader = self._loaders[name] = DataLoader(getattr(self, f"_load_{name}"), max_batch_size=batch_size)
        return loader

    def _keep(self, department: str, record: ComponentRecord | EventRecord | AlertRecord | RegionStats) -> bool:
        """Defence in depth: a department that answers outside the scope has those rows removed and logged."""
        if self.access.in_scope(record.region_code):
            return True
        log_out_of_scope(department, getattr(record, "id", "statistics"), record.region_code, self.access.principal)
        return False

    async def _load_reporting(self, loader: DataLoader[str, Any], key: str, info: Any) -> Any:
        try:
            return await loader.load(key)
        except UpstreamError as error:
            self.failures.record(error, path_of(info))
            return None

    async def _load_components(self, ids: Sequence[str]) -> list[ComponentRecord | UpstreamError | None]:
        grouped: dict[str, list[str]] = defaultdict(list)
        for component_id in dict.fromkeys(ids):
            connector = self.connectors.for_component_id(component_id)
            if connector is not None:
                grouped[connector.department_id].append(component_id)
        fetches = []
        for department, department_ids in grouped.items():
            connector = self.connectors.get(department)
            assert connector is not None
            fetches.append(self.fetch(connector, "get_components", tuple(department_ids)))
        found: dict[str, ComponentRecord | UpstreamError] = {}
        for (_, department_ids), result in zip(grouped.items(), await self.gather(fetches), strict=True):
            if isinstance(result, UpstreamError):
                found.update(dict.fromkeys(department_ids, result))
            else:
                found.update((record.id, record) for record in result)
        return [found.get(component_id) for component_id in ids]

    async def _load_events(self, ids: Sequence[str]) -> list[EventRecord | UpstreamError | None]:
        connectors = self.connectors.for_events(None)
        results = await self.gather([self.fetch(c, "get_events", tuple(ids)) for c in connectors])
        found: dict[str, EventRecord] = {}
        failure: UpstreamError | None = None
        for result in results:
            if isinstance(result, UpstreamError):
                failure = failure or result
            else:
                found.update((record.id, record) for record in result)
        return [found.get(i) or failure for i in ids]

    async def _load_events_by_component(self, ids: Sequence[str]) -> list[list[EventRecord] | UpstreamError]:
        query = EventQuery(component_ids=tuple(ids))
        return await self._related(self.connectors.for_events(None), ids, "search_events", query,
                                   lambda r: r.component_id)

    async def _load_alerts_by_component(self, ids: Sequence[str]) -> list[list[AlertRecord] | UpstreamError]:
        query = AlertQuery(component_ids=tuple(ids))
        return await self._related(self.connectors.for_alerts(None), ids, "search_alerts", query,
                                   lambda r: r.component_id)

    async def _related(
        self,
        connectors: Sequence[Connector],
        ids: Sequence[str],
        operation: str,
        query: EventQuery | AlertQuery,
        key: Callable[[RecordT], str | None],
    ) -> list[list[RecordT] | UpstreamError]:
        async def everything(connector: Connector) -> list[RecordT] | UpstreamError:
            out: list[RecordT] = []
            after: str | None = None
            for _ in range(RELATED_MAX_PAGES):
                try:
                    page: SearchPage[RecordT] = await self.call(connector, operation, query, after, RELATED_PAGE_SIZE)
                except UpstreamError as error:
                    return error
                out.extend(page.items)
                if not page.has_more or not page.items:
                    break
                after = page.positions[-1]
            return out

        grouped: dict[str, list[RecordT]] = defaultdict(list)
        failure: UpstreamError | None = None
        for result in await asyncio.gather(*(everything(c) for c in connectors)):
            if isinstance(result, UpstreamError):
                failure = failure or result
                continue
            for record in result:
                record_key = key(record)
                if record_key is not None:
                    grouped[record_key].append(record)
        return [failure if failure is not None and not grouped.get(i) else grouped.get(i, []) for i in ids]

    # --- searches ----------------------------------------------------------------------------------------------------
    def scoped_region(self, scope: Scope) -> str:
        """The region prefix to search. Every region an argument names must lie in the caller's scope (else
        FORBIDDEN naming the argument: never an empty list) and the arguments must agree with each other (else
        BAD_USER_INPUT); both before any department is asked."""
        for named in scope.regions:
            # The whole country's prefix is ''; a refusal names it by its code.
            self.access.scope_region(named.prefix or NATIONAL_REGION, named.argument)
        if not scope.regions:
            return self.access.scope_region(None)
        # Of equally narrow ones the last: regions are listed broad to narrow (regionCode, gridCode, componentId).
        narrowest = max(reversed(scope.regions), key=lambda named: len(named.prefix))
        for named in scope.regions:
            if not narrowest.prefix.startswith(named.prefix):
                raise UserInputError(f"{narrowest.argument} lies in {narrowest.prefix}, outside {named.argument} "
                                     f"{named.prefix or NATIONAL_REGION}: together they match nothing",
                                     argument=narrowest.argument)
        return narrowest.prefix

    def _component_classes(self, component_ids: tuple[str, ...] | None) -> None:
        for component_id in component_ids or ():
            self.access.check_component_class(component_class_of(component_id), f"component {component_id}")

    def _known_departments(self, departments: tuple[str, ...] | None) -> None:
        unknown = [d for d in departments or () if self.connectors.get(d) is None]
        if unknown:
            known = ", ".join(c.department_id for c in self.connectors)
            raise UserInputError(f"departments: no department {', '.join(unknown)} is joined to the platform "
                                 f"(there are {known})", argument="departments")

    async def search_components(self, query: ComponentQuery, scope: Scope, first: int, after: str | None,
                                info: Any = None) -> MergedPage[ComponentRecord]:
        access = self.access
        prefix = self.scoped_region(scope)
        query = dataclasses.replace(query, class_codes=access.component_classes(query.class_codes))
        self._known_departments(scope.departments)
        departments = access.departments(scope.departments)
        connectors = self.connectors.for_components(query.class_codes, prefix, departments)
        return await self._search("components", connectors, (query, prefix, departments, access.scope_key()),
                                  first, after, info, "search_components", query, prefix)

    async def search_events(self, query: EventQuery, scope: Scope, first: int, after: str | None,
                            info: Any = None) -> MergedPage[EventRecord]:
        self.access.require("events")
        prefix = self.scoped_region(scope)
        self._component_classes(query.component_ids)
        return await self._search("events", self.connectors.for_events(prefix),
                                  (query, prefix, self.access.scope_key()), first, after, info,
                                  "search_events", query, prefix)

    async def search_alerts(self, query: AlertQuery, scope: Scope, first: int, after: str | None,
                            info: Any = None) -> MergedPage[AlertRecord]:
        self.access.require("alerts")
        prefix = self.scoped_region(scope)
        self._component_classes(query.component_ids)
        return await self._search("alerts", self.connectors.for_alerts(prefix),
                                  (query, prefix, self.access.scope_key()), first, after, info,
                                  "search_alerts", query, prefix)

    async def _search(
        self,
        kind: str,
        connectors: Sequence[Connector],
        filter_parts: tuple[Any, ...],
        first: int,
        after: str | None,
        info: Any,
        operation: str,
        query: ComponentQuery | EventQuery | AlertQuery,
        prefix: str,
    ) -> MergedPage[Any]:
        # The filter's fingerprint binds cursors to it; computed only when a cursor is read or written.
        fingerprints: list[str] = []

        def filter_fingerprint() -> str:
            if not fingerprints:
                fingerprints.append(fingerprint(*filter_parts))
            return fingerprints[0]

        start = self.codec.decode(after, kind=kind, fingerprint=filter_fingerprint()) if after is not None else None
        by_department = {c.department_id: c for c in connectors}
        # Each department is asked only for the districts it serves inside the (already scoped) region.
        queries = {c.department_id: dataclasses.replace(query, region_codes=c.regions_within(prefix))
                   for c in connectors}

        async def fetch_from(department: str, position: str | None, size: int) -> SearchPage[Any] | UpstreamError:
            try:
                return await self.call(by_department[department], operation, queries[department], position, size)  # type: ignore[no-any-return]
            except UpstreamError as error:
                return error
            except DepartmentSkipped as skipped:
                self.failures.skip(skipped)
                return SearchPage(items=[], positions=[], total=0, has_more=False)

        def encode(positions: dict[str, str | None], totals: dict[str, int]) -> str:
            return self.codec.encode(CursorState(kind, filter_fingerprint(), positions, totals))

        return await merge_walk(
            list(by_department), fetch_from, first=first, start=start, key=lambda r: r.id, encode=encode,
            on_failure=lambda error: self.failures.record(error, path_of(info)),
            keep=self._keep,
        )

    # --- statistics --------------------------------------------------------------------------------------------------
    async def district_stats(self, region_prefix: str | None, start: datetime, end: datetime,
                             info: Any = None) -> list[RegionStats]:
        """Raw counts per district inside the requested region (which must lie in the caller's scope)."""
        self.access.require("stats")
        prefix = self.access.scope_region(region_prefix)
        connectors = self.connectors.for_stats(prefix)
        results = await self.gather(
            [self.fetch(c, "region_stats", c.regions_within(prefix), start, end) for c in connectors])
        rows: list[RegionStats] = []
        for connector, result in zip(connectors, results, strict=True):
            if isinstance(result, UpstreamError):
                self.failures.record(result, path_of(info))
                continue
            for row in result:
                if row.region_code.startswith(prefix) and self._keep(connector.department_id, row):
                    rows.append(row)
        return rows

    # --- health ------------------------------------------------------------------------------------------------------
    async def department_problem(self, department_id: str) -> str | None:
        """None when the department answers its health check, else the reason; checked once per request."""
        if department_id not in self._health:
            self._health[department_id] = _memo(self._check(department_id))
        return await self._health[department_id]

    async def _check(self, department_id: str) -> str | None:
        connector = self.connectors.get(department_id)
        if connector is None:
            return "no such department"
        return await health_problem(self.fetch(connector, "check_health"), self.plugins)


def _memo(awaitable: Awaitable[RecordT]) -> Awaitable[RecordT]:
    return asyncio.ensure_future(awaitable)
