"""Relay-style connections whose cursors work across departments (see ``gateway.pagination``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment

from schema.common import PageInfo

NodeT = TypeVar("NodeT")


def _flatten(selections: list[Any]) -> Iterator[Any]:
    for selection in selections:
        if isinstance(selection, (FragmentSpread, InlineFragment)):
            yield from _flatten(selection.selections)
        else:
            yield selection


def _cursors(page: Any, info: strawberry.Info) -> Iterable[str]:
    """Edge cursors cost an HMAC each: computed only when the query selects them."""
    selected = any(child.name == "cursor" for field in info.selected_fields for child in _flatten(field.selections))
    return page.cursors() if selected else [""] * len(page.items)


class _PageInfoOf(PageInfo):
    """PageInfo whose end cursor (an HMAC) is computed only when selected."""

    def __init__(self, page: Any) -> None:
        self.has_next_page = page.has_next
        self._page = page

    @property
    def end_cursor(self) -> str | None:  # type: ignore[override]
        return self._page.end_cursor()  # type: ignore[no-any-return]


def page_info(page: Any) -> PageInfo:
    return _PageInfoOf(page)


@strawberry.type
class Edge(Generic[NodeT]):
    node: NodeT
    cursor: str = strawberry.field(description="Opaque cursor after this edge")


@strawberry.type(description="A page of records from all departments that answered, merged in id order")
class Connection(Generic[NodeT]):
    total_count: int = strawberry.field(description="All matches over all answering departments")
    page_info: PageInfo
    nodes: list[NodeT]
    _page: strawberry.Private[Any]

    @strawberry.field
    def edges(self, info: strawberry.Info) -> list[Edge[NodeT]]:
        cursors = _cursors(self._page, info)
        return [Edge(node=node, cursor=cursor) for node, cursor in zip(self.nodes, cursors, strict=True)]


def connection(page: Any, nodes: list[NodeT]) -> Connection[NodeT]:
    return Connection(total_count=page.total, page_info=page_info(page), nodes=nodes, _page=page)
