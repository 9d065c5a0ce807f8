"""The root Query type."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from connectors.base import Connector
from connectors.records import EventKind
from gateway import search
from gateway.context import loaded, reported
from schema.codes import load_catalogue
from schema.common import ComponentClass, EventClass, component_class, event_class
from schema.components import Component, build_component, class_of
from schema.connections import Connection, connection
from schema.directives import PRIVATE, RegionScoped, SignInRequired
from schema.enums import EVENT_KIND
from schema.events import Alert, CityEvent, build_alert, build_event
from schema.inputs import (
    AlertFilter,
    ComponentFilter,
    EventFilter,
    alert_query,
    component_query,
    event_query,
    parse_component_id,
    parse_event_id,
    parse_first,
)
from schema.stats import RegionStatistics, resolve_stats

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 10_000
MAX_EVENT_ID_LENGTH = 64


def _page_size(first: int) -> int:
    return parse_first(first, MAX_PAGE_SIZE)


@strawberry.type(description="The caller as the gateway sees it")
class Viewer:
    subject: str = strawberry.field(description="The token's subject (sub claim)", directives=[PRIVATE])
    tier: str = strawberry.field(description="NATIONAL, PROVINCIAL, MUNICIPAL, DISTRICT or PUBLIC")
    region_code: str = strawberry.field(description="行政区划 the caller's platform governs (000000: the country)")
    region_prefix: str = strawberry.field(description="Every region code in scope starts with this")
    roles: list[str]
    departments: list[str] | None


@strawberry.type(description="A department system joined to the platform through a connector")
class Department:
    id: str = strawberry.field(description="Department id (water, transport, environment, housing, citymgmt)")
    name: str = strawberry.field(description="部门 — department name")
    version: str = strawberry.field(description="Connector version")
    regions: list[str] = strawberry.field(description="行政区划 codes the connector serves")
    component_classes: list[ComponentClass] = strawberry.field(description="部件小类 served")
    serves_events: bool = strawberry.field(description="Serves cases (案卷)")
    serves_alerts: bool = strawberry.field(description="Serves alarms (运行监测报警)")

    @strawberry.field(description="The department answered its health check just now")
    async def healthy(self, info: strawberry.Info) -> bool:
        return await info.context.department_problem(self.id) is None

    @strawberry.field(description="Why the health check failed, if it did")
    async def problem(self, info: strawberry.Info) -> str | None:
        return await info.context.department_problem(self.id)


def department_of(connector: Connector) -> Department:
    return Department(
        id=connector.department_id,
        name=connector.department_name,
        version=connector.version,
        regions=list(connector.regions),
        component_classes=[class_of(code) for code in sorted(connector.component_classes)],
        serves_events=connector.serves_events,
        serves_alerts=connector.serves_alerts,
    )


@strawberry.type(description="Every root field is nullable: a refused or failed field (FORBIDDEN, BAD_USER_INPUT, a "
                              "department down) is null with its error, and the other fields still answer")
class Query:
    @strawberry.field(description="One component by its 部件标识码, from the department that owns its class",
                      directives=[RegionScoped()])
    async def component(self, info: strawberry.Info, id: strawberry.ID) -> Component | None:
        record = await loaded(info, info.context.joins.component(parse_component_id(str(id))), None)
        return build_component(record) if record is not None else None

    @strawberry.field(description="Components of all departments matching the filter, merged in 标识码 order",
                      directives=[RegionScoped()])
    async def components(self, info: strawberry.Info, filter: ComponentFilter | None = None,
                         first: int = DEFAULT_PAGE_SIZE, after: str | None = None) -> Connection[Component] | None:
        query, scope = component_query(filter)
        page = reported(info, await search.components(info.context, query, scope, _page_size(first), after))
        return connection(page, [build_component(r) for r in page.items])

    @strawberry.field(description="One case (案卷) by its number", directives=[RegionScoped(), SignInRequired()])
    async def event(self, info: strawberry.Info, id: strawberry.ID) -> CityEvent | None:
        event_id = parse_event_id(str(id))
        record = await loaded(info, info.context.joins.event(event_id), None)
        return build_event(record, info.context.now) if record is not None else None

    @strawberry.field(description="Cases (案卷) matching the filter", directives=[RegionScoped(), SignInRequired()])
    async def events(self, info: strawberry.Info, filter: EventFilter | None = None,
                     first: int = DEFAULT_PAGE_SIZE, after: str | None = None) -> Connection[CityEvent] | None:
        query, scope = event_query(filter)
        page = reported(info, await search.events(info.context, query, scope, _page_size(first), after))
        now = info.context.now
        return connection(page, [build_event(r, now) for r in page.items])

    @strawberry.field(description="Alarms (运行监测报警) matching the filter",
                      directives=[RegionScoped(), SignInRequired()])
    async def alerts(self, info: strawberry.Info, filter: AlertFilter | None = None,
                     first: int = DEFAULT_PAGE_SIZE, after: str | None = None) -> Connection[Alert] | None:
        query, scope = alert_query(filter)
        page = reported(info, await search.alerts(info.context, query, scope, _page_size(first), after))
        return connection(page, [build_alert(r) for r in page.items])

    @strawberry.field(description="综合评价 — evaluation indicators (处置率, 按期结案率, 返工率 …) of a region inside "
                                  "your scope, with the same per child region; cases counted by report time",
                      directives=[RegionScoped(), SignInRequired()])
    async def stats(self, info: strawberry.Info, from_: Annotated[datetime, strawberry.argument(name="from")],
                    to: datetime, region_code: str | None = None) -> RegionStatistics | None:
        return await resolve_stats(info, region_code, from_, to)

    @strawberry.field(description="Who the gateway takes the caller to be, and the scope that follows")
    def viewer(self, info: strawberry.Info) -> Viewer | None:
        principal = info.context.access.principal
        return Viewer(subject=principal.subject, tier=principal.tier.value, region_code=principal.region_code,
                      region_prefix=principal.region_prefix, roles=sorted(principal.roles),
                      departments=sorted(principal.departments) if principal.departments is not None else None)

    @strawberry.field(description="The departments joined to the platform, with connector health")
    def departments(self, info: strawberry.Info) -> list[Department] | None:
        return [department_of(c) for c in info.context.connectors]

    @strawberry.field(description="部件分类代码 — the component class catalogue")
    def component_classes(self) -> list[ComponentClass] | None:
        return [component_class(entry) for entry in load_catalogue().components.values()]

    @strawberry.field(description="事件分类代码 — the event class catalogue")
    def event_classes(self) -> list[EventClass] | None:
        kind = EVENT_KIND[EventKind.EVENT.value]
        return [event_class(kind, entry) for entry in load_catalogue().events.values()]
