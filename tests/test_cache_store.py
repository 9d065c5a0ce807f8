"""The cache's building blocks: exact round-trips of real connector answers, and the bounded in-memory backend."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from connectors.deferred import DeferredComponentRecord
from connectors.records import AlertQuery, ComponentQuery, EventQuery
from gateway.cache.codec import dumps, loads
from gateway.cache.store import MemoryStore
from gateway.departments import build_connectors
from tests.clocks import ManualClock
from tests.conftest import MockDepartments, gateway_settings


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (a StrEnum equals its string, a tuple is not a list); a deferred
    record is cached fully translated and comes back as the plain record it resolves to."""
    if isinstance(b, DeferredComponentRecord):
        b = b.resolved()
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(k1, k2) and same(a[k1], b[k2]) for k1, k2 in zip(a, b, strict=True))
    if hasattr(a, "__dataclass_fields__"):
        return all(same(getattr(a, name), getattr(b, name)) for name in a.__dataclass_fields__)
    if isinstance(a, datetime):
        return a == b and a.utcoffset() == b.utcoffset()
    return bool(a == b)


async def test_real_connector_answers_round_trip_exactly(mock_departments: MockDepartments) -> None:
    connectors = build_connectors(gateway_settings(mock_departments))
    answers: list[Any] = []
    try:
        for connector in connectors:
            if connector.component_classes:
                page = await connector.search_components(ComponentQuery(), None, 50)
                answers += [page, await connector.get_components([record.id for record in page.items[:5]])]
            if connector.serves_events:
                answers.append(await connector.search_events(EventQuery(), None, 50))
            if connector.serves_alerts:
                answers.append(await connector.search_alerts(AlertQuery(), None, 50))
            if connector.serves_stats:
                end = datetime.fromisoformat("2026-11-01T00:00:00+08:00")
                answers.append(await connector.region_stats(connector.regions, end - timedelta(days=90), end))
    finally:
        await connectors.aclose()
    assert len(answers) >= 10 and all(answers)
    for answer in answers:
        assert same(loads(dumps(answer)), answer), type(answer)


async def test_the_memory_backend_evicts_least_recently_used_entries_beyond_its_size() -> None:
    store = MemoryStore(max_bytes=1000, namespace="t")
    for name in "abc":
        await store.set(name, name.encode() * 300, ttl=60, tags=[f"tag:{name}"])
    assert await store.get("a") is not None  # a is now the most recently used
    await store.set("d", b"d" * 300, ttl=60, tags=["tag:d"])
    assert await store.get("b") is None and await store.get("a") is not None
    assert store.cache.used_bytes <= 1000
    assert await store.invalidate(["tag:b"]) == 0  # the evicted entry left the tag index too
    assert await store.invalidate(["tag:a", "tag:c"]) == 2
    assert await store.get("a") is None and await store.get("d") is not None
    await store.set("huge", b"x" * 2000, ttl=60)
    assert await store.get("huge") is None and await store.get("d") is not None  # too big: refused, nothing evicted


async def test_memory_entries_expire() -> None:
    clock = ManualClock(start=1000.0)
    store = MemoryStore(max_bytes=1000, namespace="t", clock=clock)
    await store.set("k", b"v", ttl=5)
    assert await store.get("k") == b"v"
    clock.advance(4)
    assert await store.get("k") == b"v"
    clock.advance(1)  # exactly its TTL
    assert await store.get("k") is None and store.cache.used_bytes == 0
