"""Where the gateway's connectors come from. Each ``ConnectorSource`` offers some connectors — the code connectors
the settings name (``StaticConnectors``), the specs enabled in the connector registry (``RegistrySource``) — and
``ConnectorSources`` merges them into the one ``ConnectorSet`` requests are routed over: by department, a later
source's connector replacing an earlier one's. A source that changes its connectors at run time says so through the
``SourceHost`` it was started with; the merged set is then rebuilt and swapped in (``CurrentConnectors``), and the
listeners (the schema's declared types) see the new set."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from starlette.routing import BaseRoute

from connectors.base import Connector
from gateway.router import ConnectorSet, CurrentConnectors


class SourceHost(Protocol):
    """What a started source sees of the gateway it feeds."""

    @property
    def current(self) -> ConnectorSet:
        """The set being served, every source merged."""
        ...

    def changed(self) -> None:
        """Call after ``connectors()`` changed: the served set is rebuilt from every source."""
        ...


class ConnectorSource(Protocol):
    def connectors(self) -> Iterable[Connector]:
        """The connectors this source offers now (at most one per department)."""
        ...

    def routes(self) -> list[BaseRoute]:
        """Endpoints the source adds to the app (the registry's admin API)."""
        ...

    async def start(self, host: SourceHost) -> None:
        """Called once the app's plugins have started; a source may call ``host.changed()`` from here on."""
        ...

    async def stop(self) -> None:
        """Stop watching for changes; the connectors themselves are closed by the gateway once unused."""
        ...


class StaticConnectors:
    """A ``ConnectorSource`` of connectors fixed when the app is built: the departments of the settings."""

    def __init__(self, connectors: Iterable[Connector]) -> None:
        self._connectors = tuple(connectors)

    def connectors(self) -> Iterable[Connector]:
        return self._connectors

    def routes(self) -> list[BaseRoute]:
        return []

    async def start(self, host: SourceHost) -> None:
        return None

    async def stop(self) -> None:
        return None


ConnectorSetListener = Callable[[ConnectorSet], None]


class ConnectorSources:
    """The app's sources, merged into the set it serves (``current``); the ``SourceHost`` of each started source."""

    def __init__(self, sources: Sequence[ConnectorSource], drain_s: float = 30.0) -> None:
        self.sources = tuple(sources)
        self.listeners: list[ConnectorSetListener] = []
        self._served = CurrentConnectors(self._merged(), drain_s)

    @property
    def current(self) -> ConnectorSet:
        return self._served.current

    def _offered(self) -> list[Connector]:
        return [connector for source in self.sources for connector in source.connectors()]

    def _merged(self) -> ConnectorSet:
        by_department: dict[str, Connector] = {}
        for connector in self._offered():
            by_department[connector.department_id] = connector  # a later source replaces the department's
        return ConnectorSet(by_department.values())

    def changed(self) -> None:
        """Serve the sources' connectors as they are now (requests under way keep the set they started with)."""
        connectors = self._merged()
        self._served.replace(connectors, keep=self._offered())
        for listener in self.listeners:
            listener(connectors)

    def routes(self) -> list[BaseRoute]:
        return [route for source in self.sources for route in source.routes()]

    async def start(self) -> None:
        for source in self.sources:
            await source.start(self)

    async def stop(self) -> None:
        for source in reversed(self.sources):
            await source.stop()

    async def drained(self) -> None:
        """Return once the connectors of replaced sets have been closed (or served again): the drains have ended."""
        await self._served.drained()

    async def aclose(self) -> None:
        """Close every connector served, still draining or offered."""
        served = {id(connector) for connector in self.current}
        await self._served.aclose()
        for connector in self._offered():
            if id(connector) not in served:
                await connector.aclose()
