"""Rendered records kept serialised, so a mock renders each record once rather than on every request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import orjson


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


ItemT = TypeVar("ItemT", bound=_Identified)


class SerialisedOnce(Generic[ItemT]):
    """``render(item)`` serialised on first use and kept, by item id (an ``orjson.Fragment``: immutable).

    For renderings that derive from the item and the inventory's anchor alone, both fixed for the life of the app.
    Faults (``mocks.control``) act on the finished response, never on what is kept here."""

    def __init__(self, render: Callable[[ItemT], Any]) -> None:
        self._render = render
        self._kept: dict[str, orjson.Fragment] = {}

    def __call__(self, item: ItemT) -> orjson.Fragment:
        kept = self._kept.get(item.id)
        if kept is None:
            kept = self._kept[item.id] = orjson.Fragment(orjson.dumps(self._render(item)))
        return kept
