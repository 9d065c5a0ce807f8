"""The connector contract: one class per kind of department system.

A connector declares what it serves (department, classes, regions, events/alerts) and translates the gateway's
normalised queries into its department's dialect and the answers back into records (``connectors.records``). It
talks to its department only through the injected ``connectors.client.DepartmentClient`` (base URL, timeouts, pool
and the gateway's fetch hooks), the one HTTP seam every department call goes through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar

from connectors.client import DEFAULT_TIMEOUT_S, DepartmentClient
from connectors.records import (
    AlertQuery,
    AlertRecord,
    ComponentQuery,
    ComponentRecord,
    EventQuery,
    EventRecord,
    SearchPage,
)
from connectors.statistics import RegionStats

DEFAULT_REGIONS = ("370811", "370812")
# Seconds an answer may be served from the gateway's cache, per kind of data; None: never cached (unless configured
# with YIWANG_CACHE_TTLS). "registry": component inventory; "readings": components that carry live sensor readings.
DEFAULT_CACHE_TTLS: Mapping[str, float | None] = MappingProxyType(
    {"registry": 300.0, "readings": 15.0, "events": 30.0, "alerts": None, "stats": 120.0})


class Connector:
    """Base class. Override the operations the department supports; the rest answer ``NotImplementedError``."""

    department_id: ClassVar[str]
    department_name: ClassVar[str]  # e.g. "供水排水 Water supply and drainage"
    version: ClassVar[str] = "1"
    component_classes: ClassVar[frozenset[str]] = frozenset()
    serves_events: ClassVar[bool] = False
    serves_alerts: ClassVar[bool] = False
    serves_stats: ClassVar[bool] = False
    cache_ttls: ClassVar[Mapping[str, float | None]] = DEFAULT_CACHE_TTLS

    def __init__(
        self,
        client: DepartmentClient,
        *,
        regions: Sequence[str] = DEFAULT_REGIONS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        **options: Any,
    ) -> None:
        if options:
            raise TypeError(f"{type(self).__name__} got unknown options: {sorted(options)}")
        self.client = client
        self.regions = tuple(regions)
        self.timeout_s = timeout_s

    # --- components -------------------------------------------------------------------------------------------
    async def get_components(self, ids: Sequence[str]) -> list[ComponentRecord]:
        """Batch fetch by 标识码 in as few department calls as possible (one, where the dialect allows).

        Unknown ids are simply absent from the result.
        """
        raise NotImplementedError

    async def search_components(
        self, query: ComponentQuery, after: str | None, first: int,
    ) -> SearchPage[ComponentRecord]:
        """Up to ``first`` matches in ascending id order, starting after resume position ``after``."""
        raise NotImplementedError

    # --- events (案卷) and alerts ---------------------------------------------------------------------------------
    async def get_events(self, ids: Sequence[str]) -> list[EventRecord]:
        raise NotImplementedError

    async def search_events(self, query: EventQuery, after: str | None, first: int) -> SearchPage[EventRecord]:
        raise NotImplementedError

    async def search_alerts(self, query: AlertQuery, after: str | None, first: int) -> SearchPage[AlertRecord]:
        raise NotImplementedError

    # --- health ---------------------------------------------------------------------------------------------------
    async def check_health(self) -> None:
        """Return if the department answers; raise an ``UpstreamError`` otherwise."""
        raise NotImplementedError

    async def aclose(self) -> None:
        await self.client.aclose()

    def regions_within(self, prefix: str | None) -> tuple[str, ...]:
        """The served districts inside a 2/4/6-digit prefix filter."""
        if prefix is None:
            return self.regions
        return tuple(region for region in self.regions if region.startswith(prefix))

    # --- evaluation statistics (综合评价) -----------------------------------------------------------------------
    async def region_stats(self, region_codes: Sequence[str], start: datetime, end: datetime) -> list[RegionStats]:
        """Evaluation counts per 6-digit district for cases reported and alerts raised in [start, end] (inclusive).

        ``region_codes`` are concrete districts the connector serves (the caller has intersected its scope with
        ``regions_within``); the answer has one ``RegionStats`` per asked district, zeros where nothing matched,
        in as few department calls as the dialect allows (one, with the districts and the window pushed down).
        """
        raise NotImplementedError
