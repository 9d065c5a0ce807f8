"""Typed department calls: one small frozen request per connector operation, and ``perform``, the one place a call
becomes a connector method.

Each call also says what a cache needs to know about it, from its own fields: the kind of data it returns (a key of
``Connector.cache_ttls``; None: never cached), its arguments normalised for a key (filters are sets: the order a
client listed codes in does not change the answer) and what it is about (``Subjects``: the regions, classes,
components and cases whose change should drop its answer). A call that changes a department's data says so with
``writes = True`` and is never cached.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from connectors.catalogue import ATTRIBUTE_FIELDS, TYPE_BY_CLASS
from connectors.records import (
    AlertQuery,
    AlertRecord,
    CaseClass,
    ComponentQuery,
    ComponentRecord,
    EventKind,
    EventQuery,
    EventRecord,
    SearchPage,
)
from connectors.statistics import RegionStats
from schema.codes import component_class_of

if TYPE_CHECKING:
    from connectors.base import Connector

ResultT = TypeVar("ResultT", covariant=True)
QueryT = TypeVar("QueryT", ComponentQuery, EventQuery, AlertQuery)

# Classes whose records carry a live reading (``reading_at``): they get the connector's "readings" TTL.
READING_CLASSES = frozenset(code for code, type_name in TYPE_BY_CLASS.items()
                            if "reading_at" in ATTRIBUTE_FIELDS[type_name])


@dataclass(frozen=True, slots=True)
class Subjects:
    """What a call is about, as far as its own fields tell: an answer about these is dropped when they change."""

    regions: tuple[str, ...] = ()
    classes: tuple[CaseClass, ...] = ()
    components: tuple[str, ...] = ()
    events: tuple[str, ...] = ()


NOTHING = Subjects()


class DepartmentCall(Generic[ResultT]):
    """A request to one department; ``ResultT`` is what the connector answers."""

    __slots__ = ()
    name: ClassVar[str]  # stable: span names, metrics labels and cache keys carry it
    writes: ClassVar[bool] = False

    def data_kind(self, connector: Connector) -> str | None:
        """The kind of data answered, a key of ``Connector.cache_ttls``; None: never cached."""
        return None

    def key_fields(self) -> tuple[Any, ...]:
        """The fields that shape the answer, normalised: equal for calls that must share a cached answer."""
        return ()

    def subjects(self, connector: Connector) -> Subjects:
        return NOTHING


class UnknownCall(TypeError):
    """A call type ``perform`` does not know: a programming error, never a department's failure."""


@dataclass(frozen=True, slots=True)
class SearchComponents(DepartmentCall[SearchPage[ComponentRecord]]):
    name: ClassVar[str] = "search_components"
    query: ComponentQuery
    after: str | None
    first: int

    def data_kind(self, connector: Connector) -> str:
        class_codes = self.query.class_codes
        return _component_kind(frozenset(class_codes) if class_codes else None, connector)

    def key_fields(self) -> tuple[Any, ...]:
        return as_sets(self.query), self.after, self.first

    def subjects(self, connector: Connector) -> Subjects:
        classes = self.query.class_codes or connector.component_classes
        return Subjects(regions=self.query.region_codes or connector.regions,
                        classes=tuple((EventKind.COMPONENT, code) for code in classes))


@dataclass(frozen=True, slots=True)
class GetComponents(DepartmentCall[list[ComponentRecord]]):
    name: ClassVar[str] = "get_components"
    ids: tuple[str, ...]

    def data_kind(self, connector: Connector) -> str:
        return _component_kind(frozenset(component_class_of(component_id) for component_id in self.ids), connector)

    def key_fields(self) -> tuple[Any, ...]:
        return (self.ids,)

    def subjects(self, connector: Connector) -> Subjects:
        return Subjects(components=self.ids,
                        classes=tuple((EventKind.COMPONENT, component_class_of(i)) for i in self.ids))


@dataclass(frozen=True, slots=True)
class SearchEvents(DepartmentCall[SearchPage[EventRecord]]):
    name: ClassVar[str] = "search_events"
    query: EventQuery
    after: str | None
    first: int

    def data_kind(self, connector: Connector) -> str:
        return "events"

    def key_fields(self) -> tuple[Any, ...]:
        return as_sets(self.query), self.after, self.first

    def subjects(self, connector: Connector) -> Subjects:
        return Subjects(regions=self.query.region_codes or connector.regions, classes=self.query.classes or (),
                        components=self.query.component_ids or ())


@dataclass(frozen=True, slots=True)
class GetEvents(DepartmentCall[list[EventRecord]]):
    name: ClassVar[str] = "get_events"
    ids: tuple[str, ...]

    def data_kind(self, connector: Connector) -> str:
        return "events"

    def key_fields(self) -> tuple[Any, ...]:
        return (self.ids,)

    def subjects(self, connector: Connector) -> Subjects:
        return Subjects(events=self.ids)


@dataclass(frozen=True, slots=True)
class SearchAlerts(DepartmentCall[SearchPage[AlertRecord]]):
    name: ClassVar[str] = "search_alerts"
    query: AlertQuery
    after: str | None
    first: int

    def data_kind(self, connector: Connector) -> str:
        return "alerts"

    def key_fields(self) -> tuple[Any, ...]:
        return as_sets(self.query), self.after, self.first

    def subjects(self, connector: Connector) -> Subjects:
        return Subjects(regions=self.query.region_codes or connector.regions,
                        components=self.query.component_ids or ())


@dataclass(frozen=True, slots=True)
class GetRegionStats(DepartmentCall[list[RegionStats]]):
    name: ClassVar[str] = "region_stats"
    region_codes: tuple[str, ...]
    start: datetime
    end: datetime

    def data_kind(self, connector: Connector) -> str:
        return "stats"

    def key_fields(self) -> tuple[Any, ...]:
        return self.region_codes, self.start, self.end

    def subjects(self, connector: Connector) -> Subjects:
        return Subjects(regions=self.region_codes)


@dataclass(frozen=True, slots=True)
class CheckHealth(DepartmentCall[None]):
    """Never cached: it asks whether the department answers now."""

    name: ClassVar[str] = "check_health"


CHECK_HEALTH = CheckHealth()


def perform(connector: Connector, call: DepartmentCall[ResultT]) -> Awaitable[ResultT]:
    """The connector's answer to ``call``: the one place a call type meets a connector method."""
    answer: Any  # each case's awaitable; ``ResultT`` ties it to the call type
    match call:
        case SearchComponents(query=query, after=after, first=first):
            answer = connector.search_components(query, after, first)
        case GetComponents(ids=ids):
            answer = connector.get_components(ids)
        case SearchEvents(query=query, after=after, first=first):
            answer = connector.search_events(query, after, first)
        case GetEvents(ids=ids):
            answer = connector.get_events(ids)
        case SearchAlerts(query=query, after=after, first=first):
            answer = connector.search_alerts(query, after, first)
        case GetRegionStats(region_codes=region_codes, start=start, end=end):
            answer = connector.region_stats(region_codes, start, end)
        case CheckHealth():
            answer = connector.check_health()
        case _:
            raise UnknownCall(f"no connector method performs a {type(call).__name__}: "
                              f"add it to connectors.calls.perform")
    return answer


def as_sets(query: QueryT) -> QueryT:
    """``query`` with every tuple filter in sorted order: the order a client listed codes in does not count."""
    changes: dict[str, Any] = {f.name: tuple(sorted(value, key=str)) for f in dataclasses.fields(query)
                               if isinstance(value := getattr(query, f.name), tuple)}
    return dataclasses.replace(query, **changes) if changes else query


def _component_kind(asked: frozenset[str] | None, connector: Connector) -> str:
    """"readings" when a class asked for (or, asked for none, served) carries live readings, else "registry"."""
    served = connector.component_classes
    classes = served if asked is None else (asked & served if served else asked)
    return "readings" if classes & READING_CLASSES else "registry"
