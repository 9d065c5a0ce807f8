"""Caching, driven over HTTP against the mock departments: never across scopes (both backends, both cache levels),
single-flight, TTL expiry, stale-if-error, invalidation webhook and admin endpoint, APQ, two instances sharing Redis.

Redis tests use the real server at 127.0.0.1:6379 under a key prefix of their own, removed afterwards.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
import redis
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.cache.invalidation import sign
from gateway.cache.plugin import CachePlugin
from gateway.plugins import Plugin, Proceed, UpstreamFetch
from gateway.settings import DEPARTMENT_PORT_OFFSETS, Settings
from tests.clocks import ManualClock, plugins_on_clock
from tests.conftest import MockDepartments, bearer, gateway_settings, graphql

REDIS_URL = "redis://127.0.0.1:6379/0"
NATIONAL = ("NATIONAL", "000000", "viewer")
OTHER_DISTRICT = ("DISTRICT", "370812", "dispatcher")
MUNICIPAL_DISPATCHER = ("MUNICIPAL", "370800", "dispatcher")
MUNICIPAL_VIEWER = ("MUNICIPAL", "370800", "viewer")
ADMIN = ("NATIONAL", "000000", "platform_admin")
ANONYMOUS: tuple[str, ...] | None = None

PUBLIC_COMPONENTS = ('{ components(filter: {classCodes: ["0203", "0308"]}, first: 30) '
                     '{ totalCount nodes { id regionCode name } } }')
EVENTS = "{ events(first: 15) { totalCount nodes { id regionCode status reporterName reporterPhone } } }"
HYDRANTS = ('{ components(filter: {classCodes: ["0113"], regionCode: "370811"}, first: 10) '
            '{ totalCount nodes { id ... on Hydrant { pressureMpa readingAt } } } }')
HYDRANTS_AGAIN = f"query HydrantsAgain {HYDRANTS}"  # the same department calls, another cached response
BUS_STOPS = '{ components(filter: {classCodes: ["0203"], regionCode: "370811"}, first: 10) { nodes { id name } } }'
HYDRANTS_AND_BUS_STOPS = ('{ h: components(filter: {classCodes: ["0113"]}, first: 5) { nodes { id } } '
                          'b: components(filter: {classCodes: ["0203"]}, first: 5) { nodes { id } } }')


def cache_settings(mocks: MockDepartments, backend: str, prefix: str, **overrides: Any) -> Settings:
    url = REDIS_URL if backend == "redis" else None
    return gateway_settings(mocks, cache_url=url, cache_prefix=prefix, anonymous="public", **overrides)


@asynccontextmanager
async def running(settings: Settings, plugins: list[Plugin] | None = None) -> AsyncIterator[Starlette]:
    app = create_app(settings, plugins=plugins)
    async with app.router.lifespan_context(app):
        yield app
    await app.state.connector_source.aclose()


async def ask(app: Starlette, who: tuple[str, ...] | None, query: str | None, **body: Any) -> dict[str, Any]:
    headers = bearer(*who) if who else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                 headers=headers, timeout=30) as client:
        if body:
            response = await client.post("/graphql", json={"query": query, **body})
            return answer(response.json())
        assert query is not None
        return answer(await graphql(client, query))


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """The parts of a response a cache must reproduce: data, errors and the stale mark (not per-request ids)."""
    extensions = {k: v for k, v in body.get("extensions", {}).items() if k == "stale"}
    return {k: v for k, v in body.items() if k != "extensions"} | ({"extensions": extensions} if extensions else {})


async def metric(app: Starlette, line_start: str) -> float:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        text = (await client.get("/metrics")).text
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)]
    return sum(values)


@functools.cache
def _control_client() -> httpx.Client:
    return httpx.Client(timeout=10)


def totals(mocks: MockDepartments) -> dict[str, int]:
    """Each mock's request count (one kept-alive client, no log entries asked for: this runs around every query)."""
    client = _control_client()
    return {d: int(client.get(f"{mocks.url(d)}/_mock/requests", params={"since": 10**12}).json()["total"])
            for d in DEPARTMENT_PORT_OFFSETS}


def calls(mocks: MockDepartments, before: dict[str, int]) -> dict[str, int]:
    """Department requests since ``before``, only where there were some."""
    return {d: n - before[d] for d, n in totals(mocks).items() if n != before[d]}


# --- leaks: no answer crosses principals with different views -------------------------------------------------------
@pytest.mark.parametrize("backend", ["memory", "redis"])
@pytest.mark.parametrize("responses", [False, True], ids=["connector-level", "response-level"])
async def test_each_principal_sees_only_its_scope_whoever_primed_the_cache(
    mock_departments: MockDepartments, redis_prefix: str, backend: str, responses: bool,
) -> None:
    principals = [NATIONAL, OTHER_DISTRICT, ANONYMOUS, MUNICIPAL_DISPATCHER, MUNICIPAL_VIEWER]
    async with running(cache_settings(mock_departments, backend, redis_prefix, cache_enabled=False)) as uncached:
        truth = {(who, q): await ask(uncached, who, q) for who in principals for q in (PUBLIC_COMPONENTS, EVENTS)}
    long_lived = '{"readings": 600, "events": 600}'  # nothing expires between the rounds, however slow the machine
    settings = cache_settings(mock_departments, backend, redis_prefix, cache_responses=responses, cache_ttls=long_lived)
    async with running(settings) as app:
        for round_number in (1, 2):
            for who in principals:
                for query in (PUBLIC_COMPONENTS, EVENTS):
                    before = totals(mock_departments)
                    body = await ask(app, who, query)
                    assert body == truth[(who, query)], (who, query, round_number)
                    asked = calls(mock_departments, before)
                    refused = "errors" in body
                    if round_number == 2 or refused:
                        assert asked == {}, (asked, who, round_number)  # answered from this principal's entries
                    else:
                        assert asked, (who, query)  # nobody else's entry was good enough
    district_events = truth[(OTHER_DISTRICT, EVENTS)]["data"]["events"]["nodes"]
    assert district_events and {n["regionCode"] for n in district_events} == {"370812"}
    phones = [n["reporterPhone"] for n in district_events if n["reporterPhone"]]
    assert phones and not any("*" in phone for phone in phones)
    viewer_phones = [n["reporterPhone"] for n in truth[(MUNICIPAL_VIEWER, EVENTS)]["data"]["events"]["nodes"]]
    assert any(viewer_phones) and all("*" in phone for phone in viewer_phones if phone)
    assert all(n["reporterPhone"] is None for n in truth[(NATIONAL, EVENTS)]["data"]["events"]["nodes"])
    assert truth[(ANONYMOUS, EVENTS)]["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --- single-flight ---------------------------------------------------------------------------------------------------
async def test_fifty_concurrent_identical_misses_make_one_department_call(
    mock_departments: MockDepartments, redis_prefix: str,
) -> None:
    async with running(cache_settings(mock_departments, "memory", redis_prefix, cache_enabled=False)) as uncached:
        before = totals(mock_departments)
        expected = await ask(uncached, NATIONAL, HYDRANTS)
        one_query = calls(mock_departments, before)
    assert set(one_query) == {"water"}
    async with running(cache_settings(mock_departments, "memory", redis_prefix)) as app:
        before = totals(mock_departments)
        bodies = await asyncio.gather(*(ask(app, NATIONAL, HYDRANTS) for _ in range(50)))
        assert calls(mock_departments, before) == one_query
        assert all(body == expected for body in bodies)
        prefix = 'yiwang_cache_fetches_total{connector="water",result='
        assert await metric(app, prefix + '"miss"}') == 1
        assert await metric(app, prefix + '"coalesced"}') == 49


# --- TTLs -------------------------------------------------------------------------------------------------------------
def response_entries_ms_left(prefix: str) -> list[int]:
    """The milliseconds Redis still keeps each cached response (``r:…`` keys) under ``prefix``."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return [int(client.pttl(key)) for key in client.scan_iter(match=f"{prefix}:r:*", count=500)]
    finally:
        client.close()


async def test_entries_expire_after_their_ttl(mock_departments: MockDepartments, redis_prefix: str) -> None:
    settings = cache_settings(mock_departments, "redis", redis_prefix, cache_ttls='{"water.readings": 60}')
    clock = ManualClock()
    async with running(settings, plugins_on_clock(settings, clock)) as app:
        first = await ask(app, NATIONAL, HYDRANTS)
        before = totals(mock_departments)
        assert await ask(app, NATIONAL, HYDRANTS) == first
        assert calls(mock_departments, before) == {}
        # Redis drops the response on its own clock, as soon as its readings expire.
        [response_ms_left] = response_entries_ms_left(redis_prefix)
        assert 0 < response_ms_left <= 60_000
        # The department answer outlives it on Redis (for stale-if-error); its freshness is read on the test's
        # clock. Each other text of the query skips the responses cached so far and asks the connector-level cache.
        clock.advance(59.9)
        assert await ask(app, NATIONAL, HYDRANTS_AGAIN) == first
        assert calls(mock_departments, before) == {}
        clock.advance(0.2)
        assert await ask(app, NATIONAL, f"query AfterItsTtl {HYDRANTS}") == first
        assert set(calls(mock_departments, before)) == {"water"}


async def test_a_response_lives_as_long_as_its_shortest_lived_part(
    mock_departments: MockDepartments, redis_prefix: str,
) -> None:
    settings = cache_settings(mock_departments, "memory", redis_prefix, cache_ttls='{"water.readings": 2.0}')
    clock = ManualClock()
    async with running(settings, plugins_on_clock(settings, clock)) as app:
        first = await ask(app, NATIONAL, HYDRANTS_AND_BUS_STOPS)
        before = totals(mock_departments)
        assert await ask(app, NATIONAL, HYDRANTS_AND_BUS_STOPS) == first
        assert calls(mock_departments, before) == {}
        assert await metric(app, 'yiwang_cache_responses_total{result="hit"}') == 1
        clock.advance(1.9)
        assert await ask(app, NATIONAL, HYDRANTS_AND_BUS_STOPS) == first
        assert await metric(app, 'yiwang_cache_responses_total{result="hit"}') == 2
        clock.advance(0.2)
        assert await ask(app, NATIONAL, HYDRANTS_AND_BUS_STOPS) == first
        assert set(calls(mock_departments, before)) == {"water"}  # bus stops (minutes) still came from the cache


async def test_alerts_are_cached_only_when_configured(mock_departments: MockDepartments, redis_prefix: str) -> None:
    query = "{ alerts(first: 5) { nodes { id level } } }"
    for ttls, expected_calls in ((None, 2), ('{"citymgmt.alerts": 30}', 1)):
        async with running(cache_settings(mock_departments, "memory", redis_prefix, cache_ttls=ttls)) as app:
            before = totals(mock_departments)
            await ask(app, NATIONAL, query)
            await ask(app, NATIONAL, query)
            assert calls(mock_departments, before) == {"citymgmt": expected_calls}


# --- stale-if-error ---------------------------------------------------------------------------------------------------
class SpanPerFetch(Plugin):
    """Stands in for the tracing plugin: a span around each department call, outside the cache."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = provider.get_tracer("test")

    async def on_upstream_fetch(self, fetch: UpstreamFetch, proceed: Proceed) -> Any:
        with self.tracer.start_as_current_span(f"fetch {fetch.department}"):
            return await proceed()

    def cache_results(self) -> list[Any]:
        return [(span.attributes or {}).get("yiwang.cache") for span in self.exporter.get_finished_spans()]


async def test_a_failing_department_is_answered_from_its_last_good_entry_marked_stale(
    mock_departments: MockDepartments, redis_prefix: str,
) -> None:
    settings = cache_settings(mock_departments, "redis", redis_prefix, cache_ttls='{"water.readings": 60}',
                              cache_stale_max_age_s=120)
    spans = SpanPerFetch()
    clock = ManualClock()
    async with running(settings, plugins=[spans, CachePlugin(settings, clock=clock)]) as app:
        fresh = await ask(app, NATIONAL, HYDRANTS)
        assert "errors" not in fresh and "extensions" not in fresh
        clock.advance(61)
        mock_departments.set_faults("water", down=True)
        # Redis keeps the first response for 60 s of its own time: another text of the query is not answered from it.
        stale = await ask(app, NATIONAL, HYDRANTS_AGAIN)
        assert stale["data"] == fresh["data"] and "errors" not in stale
        (mark,) = stale["extensions"]["stale"]
        assert mark["department"] == "water" and mark["ageSeconds"] == 61
        assert spans.cache_results() == ["miss", "stale"]
        assert await metric(app, 'yiwang_cache_fetches_total{connector="water",result="stale"}') == 1
        clock.advance(59)  # 120 s old: the last moment it may be served
        (last_mark,) = (await ask(app, NATIONAL, HYDRANTS_AGAIN))["extensions"]["stale"]
        assert last_mark["ageSeconds"] == 120
        clock.advance(0.5)
        too_old = await ask(app, NATIONAL, HYDRANTS_AGAIN)
        assert [e["extensions"]["code"] for e in too_old["errors"]] == ["UPSTREAM_UNAVAILABLE"]
        mock_departments.reset()
        recovered = await ask(app, NATIONAL, HYDRANTS_AGAIN)
        assert "extensions" not in recovered and recovered["data"] == fresh["data"]


# --- two instances ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("responses", [False, True], ids=["connector-level", "response-level"])
async def test_two_gateway_instances_share_one_redis_cache(
    mock_departments: MockDepartments, redis_prefix: str, responses: bool,
) -> None:
    settings = cache_settings(mock_departments, "redis", redis_prefix, cache_responses=responses)
    async with running(settings) as first, running(settings) as second:
        primed = await ask(first, MUNICIPAL_DISPATCHER, EVENTS)
        before = totals(mock_departments)
        assert await ask(second, MUNICIPAL_DISPATCHER, EVENTS) == primed
        assert calls(mock_departments, before) == {}
        assert await metric(second, 'yiwang_cache_responses_total{result="hit"}') == (1 if responses else 0)
        if not responses:
            assert await metric(second, 'yiwang_cache_fetches_total{connector="citymgmt",result="hit"}') >= 1


# --- invalidation -----------------------------------------------------------------------------------------------------
SECRET = "department-shared-secret"


async def post_webhook(app: Starlette, body: bytes, timestamp: str, signature: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        return await client.post("/cache/invalidate", content=body, headers={
            "content-type": "application/json", "x-yiwang-timestamp": timestamp, "x-yiwang-signature": signature})


async def test_signed_webhook_drops_the_tagged_entries_and_refuses_forgeries_and_replays(
    mock_departments: MockDepartments, redis_prefix: str,
) -> None:
    settings = cache_settings(mock_departments, "redis", redis_prefix, cache_webhook_secret=SECRET)
    async with running(settings) as app:

        async def departments_asked() -> set[str]:
            before = totals(mock_departments)
            await ask(app, NATIONAL, HYDRANTS)
            await ask(app, NATIONAL, BUS_STOPS)
            return set(calls(mock_departments, before))

        assert await departments_asked() == {"water", "transport"}
        assert await departments_asked() == set()
        body = orjson.dumps({"tags": ["class:0113"]})
        now = str(int(time.time()))

        forged = await post_webhook(app, body, now, sign("not-the-secret", now, body))
        assert forged.status_code == 401 and forged.json()["errors"][0]["extensions"]["code"] == "INVALID_SIGNATURE"
        tampered = await post_webhook(app, orjson.dumps({"tags": ["class:0203"]}), now, sign(SECRET, now, body))
        assert tampered.status_code == 401
        old = str(int(time.time()) - 3600)
        expired = await post_webhook(app, body, old, sign(SECRET, old, body))
        assert expired.status_code == 401 and expired.json()["errors"][0]["extensions"]["code"] == "STALE_TIMESTAMP"
        assert await departments_asked() == set()  # nothing was dropped by the refused requests

        valid = await post_webhook(app, body, now, sign(SECRET, now, body))
        assert valid.status_code == 200 and valid.json()["invalidated"] >= 2  # the connector entry and the response
        assert await departments_asked() == {"water"}  # hydrants (class 0113) dropped, bus stops kept
        replay = await post_webhook(app, body, now, sign(SECRET, now, body))
        assert replay.status_code == 409 and replay.json()["errors"][0]["extensions"]["code"] == "REPLAYED"
        assert await departments_asked() == set()
        assert await metric(app, 'yiwang_cache_invalidated_entries_total{source="webhook"}') >= 2


async def test_operators_invalidate_by_tag_as_platform_admin_only(
    mock_departments: MockDepartments, redis_prefix: str,
) -> None:
    async with running(cache_settings(mock_departments, "memory", redis_prefix)) as app:
        await ask(app, NATIONAL, BUS_STOPS)

        async def invalidate(who: tuple[str, ...] | None, payload: Any) -> httpx.Response:
            headers = bearer(*who) if who else {}
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                         headers=headers) as client:
                return await client.post("/admin/cache/invalidate", json=payload)

        assert (await invalidate(None, {"tags": ["region:370811"]})).status_code == 403  # anonymous: public only
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            forged = await client.post("/admin/cache/invalidate", json={"tags": ["region:370811"]},
                                       headers={"authorization": "Bearer not-a-token"})
        assert forged.status_code == 401
        refused = await invalidate(MUNICIPAL_DISPATCHER, {"tags": ["region:370811"]})
        assert refused.status_code == 403 and refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert (await invalidate(ADMIN, {"tags": "region:370811"})).status_code == 400
        before = totals(mock_departments)
        await ask(app, NATIONAL, BUS_STOPS)
        assert calls(mock_departments, before) == {}
        dropped = await invalidate(ADMIN, {"tags": ["region:370811"]})
        assert dropped.status_code == 200 and dropped.json()["invalidated"] == 2
        await ask(app, NATIONAL, BUS_STOPS)
        assert set(calls(mock_departments, before)) == {"transport"}


# --- automatic persisted queries --------------------------------------------------------------------------------------
async def test_automatic_persisted_queries_follow_the_apollo_convention(
    mock_departments: MockDepartments, redis_prefix: str,
) -> None:
    digest = hashlib.sha256(BUS_STOPS.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    settings = cache_settings(mock_departments, "redis", redis_prefix)
    async with running(settings) as app, running(settings) as other_instance:
        unknown = await ask(app, NATIONAL, None, extensions=persisted)
        assert unknown["errors"][0]["message"] == "PersistedQueryNotFound"
        assert unknown["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        registered = await ask(app, NATIONAL, BUS_STOPS, extensions=persisted)
        assert len(registered["data"]["components"]["nodes"]) == 10
        assert await ask(other_instance, NATIONAL, None, extensions=persisted) == registered
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                     headers=bearer(*NATIONAL)) as client:
            by_get = await client.get("/graphql", params={"extensions": orjson.dumps(persisted).decode()},
                                      headers={"accept": "application/graphql-response+json, application/json"})
        assert answer(by_get.json()) == registered
        wrong = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
        mismatch = await ask(app, NATIONAL, BUS_STOPS, extensions=wrong)
        assert mismatch["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        assert await metric(app, 'yiwang_cache_persisted_queries_total{result="hit"}') == 1
