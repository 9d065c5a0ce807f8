"""Connector sources: the served set is every source's connectors merged by department (a later source's connector
replacing an earlier one's), rebuilt when a source says it changed; requests keep the set they started with, and a
replaced connector is closed once the drain is over."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import httpx
from starlette.routing import BaseRoute, Route

from connectors.base import Connector
from gateway.router import ConnectorSet
from gateway.sources import ConnectorSources, SourceHost, StaticConnectors


class Department(Connector):
    department_id: ClassVar[str] = "unset"
    closed = False

    def __init__(self, department: str, classes: Iterable[str]) -> None:
        super().__init__(httpx.AsyncClient())
        self.department_id = department  # type: ignore[misc]
        self.component_classes = frozenset(classes)  # type: ignore[misc]

    async def aclose(self) -> None:
        self.closed = True
        await super().aclose()


class Changing:
    """A source whose connectors tests set, and which tells its host when they change."""

    def __init__(self) -> None:
        self.offered: list[Connector] = []
        self.host: SourceHost | None = None
        self.log: list[str] = []

    def connectors(self) -> Iterable[Connector]:
        return self.offered

    def routes(self) -> list[BaseRoute]:
        return [Route("/admin/changing", lambda request: None)]

    async def start(self, host: SourceHost) -> None:
        self.host = host
        self.log.append("start")

    async def stop(self) -> None:
        self.log.append("stop")

    def offer(self, *connectors: Connector) -> None:
        self.offered = list(connectors)
        assert self.host is not None
        self.host.changed()


async def test_a_later_source_replaces_the_department_and_requests_keep_their_set() -> None:
    water, transport = Department("water", ["0113"]), Department("transport", ["0203"])
    changing = Changing()
    sources = ConnectorSources([StaticConnectors([water, transport]), changing], drain_s=0.0)
    seen: list[ConnectorSet] = []
    sources.listeners.append(seen.append)
    assert [c.department_id for c in sources.current] == ["water", "transport"]
    assert [route.path for route in sources.routes()] == ["/admin/changing"]  # type: ignore[attr-defined]

    await sources.start()
    assert changing.log == ["start"] and changing.host is sources
    under_way = sources.current
    spec_water, gas = Department("water", ["2141"]), Department("gas", ["0104"])
    changing.offer(spec_water, gas)

    served = sources.current
    assert [c for c in served] == [spec_water, transport, gas]  # the department keeps its place; new ones follow
    assert served.for_component_id("3708112141000001") is spec_water and served.get("gas") is gas
    assert seen == [served]
    assert list(under_way) == [water, transport]  # a request that started before keeps the old set

    await sources.drained()
    assert not water.closed and not transport.closed and not spec_water.closed  # water is still the settings'

    changing.offer(gas)  # the spec withdrawn: the settings' connector is served again, open
    assert list(sources.current) == [water, transport, gas]
    await sources.drained()
    assert spec_water.closed and not water.closed and not gas.closed
    await sources.stop()
    assert changing.log == ["start", "stop"]
    await sources.aclose()
    assert water.closed and transport.closed and gas.closed


async def test_a_connector_served_again_before_its_drain_ended_stays_open() -> None:
    water, gas = Department("water", ["0113"]), Department("gas", ["0104"])
    changing = Changing()
    sources = ConnectorSources([changing], drain_s=0.05)
    await sources.start()
    changing.offer(water, gas)
    changing.offer(gas)
    changing.offer(water, gas)  # back within the drain
    await sources.drained()
    assert not water.closed and list(sources.current) == [water, gas]
    await sources.aclose()
    assert water.closed and gas.closed
