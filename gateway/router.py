"""Which connectors answer a request: by class code and region, and for an id by the class code inside the 标识码."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Sequence

from connectors.base import Connector
from schema.codes import component_class_of, region_of


class ConnectorSet:
    """The connectors of one gateway, indexed for routing."""

    def __init__(self, connectors: Iterable[Connector]) -> None:
        self._by_department: dict[str, Connector] = {}
        for connector in connectors:
            if connector.department_id in self._by_department:
                raise ValueError(f"two connectors for department {connector.department_id!r}")
            self._by_department[connector.department_id] = connector
        self._by_class: dict[str, list[Connector]] = {}
        for connector in self._by_department.values():
            for class_code in connector.component_classes:
                self._by_class.setdefault(class_code, []).append(connector)

    def __iter__(self) -> Iterator[Connector]:
        return iter(self._by_department.values())

    def __len__(self) -> int:
        return len(self._by_department)

    def get(self, department_id: str) -> Connector | None:
        return self._by_department.get(department_id)

    def for_component_id(self, component_id: str) -> Connector | None:
        region = region_of(component_id)
        for connector in self._by_class.get(component_class_of(component_id), ()):
            if region in connector.regions:
                return connector
        return None

    def for_components(
        self, class_codes: Sequence[str] | None, region_prefix: str | None, departments: Sequence[str] | None = None,
    ) -> list[Connector]:
        picked = []
        for connector in self._by_department.values():
            if not connector.component_classes:
                continue
            if class_codes is not None and connector.component_classes.isdisjoint(class_codes):
                continue
            if departments is not None and connector.department_id not in departments:
                continue
            if region_prefix is not None and not connector.regions_within(region_prefix):
                continue
            picked.append(connector)
        return picked

    def for_events(self, region_prefix: str | None) -> list[Connector]:
        return [c for c in self._by_department.values()
                if c.serves_events and (region_prefix is None or c.regions_within(region_prefix))]

    def for_alerts(self, region_prefix: str | None) -> list[Connector]:
        return [c for c in self._by_department.values()
                if c.serves_alerts and (region_prefix is None or c.regions_within(region_prefix))]

    def for_stats(self, region_prefix: str) -> list[Connector]:
        return [c for c in self._by_department.values() if c.serves_stats and c.regions_within(region_prefix)]

    async def aclose(self) -> None:
        for connector in self._by_department.values():
            await connector.aclose()


class CurrentConnectors:
    """The ``ConnectorSet`` a gateway serves now. A request takes ``current`` once, when it starts, and keeps that set
    to its end, so replacing the set at run time (a connector registered, changed, rolled back) never disturbs
    in-flight requests. Connectors of replaced sets are closed when no request started on them can still be running
    (after ``drain_s``)."""

    def __init__(self, connectors: ConnectorSet, drain_s: float = 30.0) -> None:
        self.current = connectors
        self.drain_s = drain_s
        self._retiring: dict[int, Connector] = {}  # connectors of replaced sets not in the current one, by id()
        self._drains: set[asyncio.Task[None]] = set()

    def replace(self, connectors: ConnectorSet, keep: Iterable[Connector] = ()) -> ConnectorSet:
        """Make ``connectors`` current; close the old set's connectors it does not reuse after ``drain_s``, except
        those in ``keep`` (a code connector a registered spec replaces for now stays open, to be served again)."""
        previous, self.current = self.current, connectors
        kept = {id(connector) for connector in (*connectors, *keep)}
        for connector in connectors:
            self._retiring.pop(id(connector), None)  # served again before its drain ended: stays open
        retired = [connector for connector in previous if id(connector) not in kept]
        for connector in retired:
            self._retiring[id(connector)] = connector
        if retired:
            task = asyncio.get_running_loop().create_task(self._close_later(retired))
            self._drains.add(task)
            task.add_done_callback(self._drains.discard)
        return previous

    async def _close_later(self, connectors: list[Connector]) -> None:
        await asyncio.sleep(self.drain_s)
        for connector in connectors:
            if self._retiring.pop(id(connector), None) is not None:
                await connector.aclose()

    async def drained(self) -> None:
        """Return once every drain under way has ended (its connectors closed unless served again)."""
        await asyncio.gather(*self._drains)

    async def aclose(self) -> None:
        for task in list(self._drains):
            task.cancel()
        for connector in self._retiring.values():
            await connector.aclose()
        self._retiring.clear()
        await self.current.aclose()
