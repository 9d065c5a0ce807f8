"""Relay-style connections whose cursors work across departments (see ``gateway.pagination``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment

from schema.common import PageInfo
from schema.components import Component
from schema.events import Alert, CityEvent


def _selects_cursor(info: strawberry.Info) -> bool:
    return any(child.name == "cursor" for field in info.selected_fields for child in _flatten(field.selections))


def _flatten(selections: list[Any]) -> Iterator[Any]:
    for selection in selections:
        if isinstance(selection, (FragmentSpread, InlineFragment)):
            yield from _flatten(selection.selections)
        else:
            yield selection


def _cursors(page: Any, info: strawberry.Info) -> Iterable[str]:
    """Edge cursors cost an HMAC each: computed only when the query selects them."""
    return page.cursors() if _selects_cursor(info) else [""] * len(page.items)


def page_info(page: Any) -> PageInfo:
    return PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor())


@strawberry.type
class ComponentEdge:
    node: Component
    cursor: str = strawberry.field(description="Opaque cursor after this edge")


@strawberry.type(description="A page of components from all departments that match, merged in 标识码 order")
class ComponentConnection:
    total_count: int = strawberry.field(description="All matches over all answering departments")
    page_info: PageInfo
    nodes: list[Component]
    _page: strawberry.Private[Any]

    @strawberry.field
    def edges(self, info: strawberry.Info) -> list[ComponentEdge]:
        cursors = _cursors(self._page, info)
        return [ComponentEdge(node=node, cursor=cursor) for node, cursor in zip(self.nodes, cursors, strict=True)]


@strawberry.type
class CityEventEdge:
    node: CityEvent
    cursor: str = strawberry.field(description="Opaque cursor after this edge")


@strawberry.type(description="A page of cases (案卷)")
class CityEventConnection:
    total_count: int
    page_info: PageInfo
    nodes: list[CityEvent]
    _page: strawberry.Private[Any]

    @strawberry.field
    def edges(self, info: strawberry.Info) -> list[CityEventEdge]:
        cursors = _cursors(self._page, info)
        return [CityEventEdge(node=node, cursor=cursor) for node, cursor in zip(self.nodes, cursors, strict=True)]


@strawberry.type
class AlertEdge:
    node: Alert
    cursor: str = strawberry.field(description="Opaque cursor after this edge")


@strawberry.type(description="A page of alarms (运行监测报警)")
class AlertConnection:
    total_count: int
    page_info: PageInfo
    nodes: list[Alert]
    _page: strawberry.Private[Any]

    @strawberry.field
    def edges(self, info: strawberry.Info) -> list[AlertEdge]:
        cursors = _cursors(self._page, info)
        return [AlertEdge(node=node, cursor=cursor) for node, cursor in zip(self.nodes, cursors, strict=True)]
