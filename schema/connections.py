"""Relay-style connections whose cursors work across departments (see ``gateway.pagination``)."""

from __future__ import annotations

from typing import Any

import strawberry

from schema.common import PageInfo
from schema.components import Component
from schema.events import Alert, CityEvent


def page_info(page: Any) -> PageInfo:
    return PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor())


@strawberry.type
class ComponentEdge:
    node: Component
    _page: strawberry.Private[Any]
    _index: strawberry.Private[int]

    @strawberry.field(description="Opaque cursor after this edge")
    def cursor(self) -> str:
        return self._page.cursors()[self._index]


@strawberry.type(description="A page of components from all departments that match, merged in 标识码 order")
class ComponentConnection:
    total_count: int = strawberry.field(description="All matches over all answering departments")
    page_info: PageInfo
    nodes: list[Component]
    _page: strawberry.Private[Any]

    @strawberry.field
    def edges(self) -> list[ComponentEdge]:
        return [ComponentEdge(node=node, _page=self._page, _index=i) for i, node in enumerate(self.nodes)]


@strawberry.type
class CityEventEdge:
    node: CityEvent
    _page: strawberry.Private[Any]
    _index: strawberry.Private[int]

    @strawberry.field(description="Opaque cursor after this edge")
    def cursor(self) -> str:
        return self._page.cursors()[self._index]


@strawberry.type(description="A page of cases (案卷)")
class CityEventConnection:
    total_count: int
    page_info: PageInfo
    nodes: list[CityEvent]
    _page: strawberry.Private[Any]

    @strawberry.field
    def edges(self) -> list[CityEventEdge]:
        return [CityEventEdge(node=node, _page=self._page, _index=i) for i, node in enumerate(self.nodes)]


@strawberry.type
class AlertEdge:
    node: Alert
    _page: strawberry.Private[Any]
    _index: strawberry.Private[int]

    @strawberry.field(description="Opaque cursor after this edge")
    def cursor(self) -> str:
        return self._page.cursors()[self._index]


@strawberry.type(description="A page of alarms (运行监测报警)")
class AlertConnection:
    total_count: int
    page_info: PageInfo
    nodes: list[Alert]
    _page: strawberry.Private[Any]

    @strawberry.field
    def edges(self) -> list[AlertEdge]:
        return [AlertEdge(node=node, _page=self._page, _index=i) for i, node in enumerate(self.nodes)]
