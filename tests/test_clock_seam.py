"""The cache reads time from a clock the test owns (``CachePlugin(settings, clock=…)``, ``MemoryStore(…, clock)``):
entries expire, answers go stale and the stale window closes when the test moves the clock, on the memory backend and
on Redis alike, with no sleep. The template for every cache test that needs time to pass."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from gateway.app import create_app
from gateway.cache.store import MemoryStore
from gateway.settings import Settings
from tests.clocks import ManualClock, plugins_on_clock
from tests.conftest import NATIONAL_VIEWER, MockDepartments, bearer, gateway_settings

REDIS_URL = "redis://127.0.0.1:6379/0"
HYDRANTS = '{ components(filter: {classCodes: ["0113"], regionCode: "370811"}, first: 3) { nodes { id } } }'


@asynccontextmanager
async def gateway(settings: Settings, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, plugins=plugins_on_clock(settings, clock))
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=30,
                headers=bearer(*NATIONAL_VIEWER)) as client:
            yield client
    finally:
        await app.state.connector_source.aclose()


async def test_memory_entries_expire_on_the_stores_clock() -> None:
    clock = ManualClock(start=1000.0)
    store = MemoryStore(max_bytes=1000, namespace="t", clock=clock)
    await store.set("k", b"v", ttl=60)
    clock.advance(59.9)
    assert await store.get("k") == b"v"
    clock.advance(0.1)
    assert await store.get("k") is None and store.cache.used_bytes == 0


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_department_answers_expire_go_stale_and_age_out_on_the_tests_clock(
        mock_departments: MockDepartments, redis_prefix: str, backend: str) -> None:
    clock = ManualClock()
    settings = gateway_settings(mock_departments, cache_url=REDIS_URL if backend == "redis" else None,
                                cache_prefix=redis_prefix, cache_responses=False,
                                cache_ttls='{"water.readings": 60, "water.registry": 60}', cache_stale_max_age_s=600)
    async with gateway(settings, clock) as client:
        before = mock_departments.total("water")
        fresh = (await client.post("/graphql", json={"query": HYDRANTS})).json()
        calls_while_fresh = mock_departments.total("water") - before
        assert calls_while_fresh > 0
        clock.advance(59)
        assert (await client.post("/graphql", json={"query": HYDRANTS})).json()["data"] == fresh["data"]
        assert mock_departments.total("water") - before == calls_while_fresh  # from the cache
        clock.advance(2)  # 61 s: past the TTL
        assert (await client.post("/graphql", json={"query": HYDRANTS})).json()["data"] == fresh["data"]
        assert mock_departments.total("water") - before > calls_while_fresh  # asked again
        mock_departments.set_faults("water", down=True)
        clock.advance(100)
        stale = (await client.post("/graphql", json={"query": HYDRANTS})).json()
        clock.advance(600)  # past the stale window
        too_old = (await client.post("/graphql", json={"query": HYDRANTS})).json()
    mock_departments.reset()
    assert stale["data"] == fresh["data"] and "errors" not in stale
    [mark] = stale["extensions"]["stale"]
    assert mark["department"] == "water" and mark["ageSeconds"] == pytest.approx(100, abs=0.01)
    assert [error["extensions"]["code"] for error in too_old["errors"]] == ["UPSTREAM_UNAVAILABLE"]
