"""Connector-level caching: each department call answered from the cache when fresh, concurrent identical misses
coalesced into one call (single-flight), and the last good answer served when the department fails (stale-if-error).

Every outcome is counted per connector and written on the current span (the tracing plugin's fetch span) as
``yiwang.cache`` = hit | miss | stale | coalesced.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry import trace

from gateway.cache.codec import Uncacheable, from_plain, to_plain
from gateway.cache.keys import connector_key, fresh_ttl, tags_of
from gateway.cache.store import CacheStore
from gateway.exceptions import UpstreamError
from gateway.metrics import Counter
from gateway.plugins import Proceed, UpstreamFetch
from gateway.telemetry.failures import record_upstream_error

logger = logging.getLogger("yiwang.cache")
SPAN_ATTRIBUTE = "yiwang.cache"


@dataclass(slots=True)
class RequestCacheState:
    """What the department calls of one GraphQL request learned about caching its whole response."""

    min_ttl: float = float("inf")
    uncacheable: bool = False  # a call that is never cached (health, alerts) or a stale answer took part
    tags: set[str] = field(default_factory=set)
    stale: list[dict[str, Any]] = field(default_factory=list)

    def saw(self, ttl_left: float, tags: Any) -> None:
        self.min_ttl = min(self.min_ttl, ttl_left)
        self.tags.update(tags)

    def mark_stale(self, department: str, age_s: float) -> None:
        """One ``extensions.stale`` entry per department (a request makes several calls to one department): the age
        of its oldest answer, and a sentence a client can show."""
        self.uncacheable = True
        age = round(age_s, 3)
        for entry in self.stale:
            if entry["department"] == department:
                if age <= entry["ageSeconds"]:
                    return
                self.stale.remove(entry)
                break
        self.stale.append({"department": department, "ageSeconds": age,
                           "message": f"{department} did not answer; its data is the last good answer, "
                                      f"{age:.0f} s old (stale-if-error)"})


@dataclass(frozen=True, slots=True)
class Entry:
    stored_at: float  # wall clock, shared by every instance on one Redis
    ttl: float
    tags: tuple[str, ...]
    plain: Any  # the value as a codec tree

    @classmethod
    def decode(cls, raw: bytes) -> Entry:
        body = orjson.loads(raw)
        return cls(body["at"], body["ttl"], tuple(body["tags"]), body["v"])

    def age(self, now: float) -> float:
        return max(now - self.stored_at, 0.0)


@dataclass(frozen=True, slots=True)
class Filled:
    """The outcome of one department call made on behalf of every waiter."""

    value: Any
    plain: Any  # None when the value could not be encoded: waiters then share the object itself
    result: str  # miss | stale
    ttl_left: float
    tags: frozenset[str]
    age: float = 0.0


class FetchCache:
    def __init__(self, store: CacheStore, counter: Counter | None, *, ttl_overrides: Mapping[str, float],
                 stale_max_age_s: float, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock  # wall time: entries on Redis are shared by every instance
        self.counter = counter
        self.ttl_overrides = dict(ttl_overrides)
        self.stale_max_age_s = stale_max_age_s
        self.flights: dict[str, asyncio.Future[Filled]] = {}
        self.states: weakref.WeakKeyDictionary[Any, RequestCacheState] = weakref.WeakKeyDictionary()

    def state_of(self, request: Any) -> RequestCacheState | None:
        if request is None:
            return None
        state = self.states.get(request)
        if state is None:
            state = self.states[request] = RequestCacheState()
        return state

    async def fetch(self, fetch: UpstreamFetch, proceed: Proceed) -> Any:
        state = self.state_of(fetch.request)
        ttl = fresh_ttl(fetch, self.ttl_overrides)
        if ttl is None:
            if state is not None:
                state.uncacheable = True
            return await proceed()
        key = connector_key(fetch)
        raw = await self.store.get(key)
        entry = _decode(raw) if raw is not None else None
        now = self.clock()
        if entry is not None and entry.age(now) < entry.ttl:
            value = _restore(entry.plain)
            if value is not _UNREADABLE:
                self._report(fetch, "hit", state)
                if state is not None:
                    state.saw(entry.ttl - entry.age(now), entry.tags)
                return value
        flight = self.flights.get(key)
        leader = flight is None
        if flight is None:
            flight = self._start(key, fetch, proceed, ttl, entry)
        filled = await asyncio.shield(flight)
        self._report(fetch, filled.result if leader else "coalesced", state, filled.age)
        if state is not None:
            state.saw(filled.ttl_left, filled.tags)
            if filled.result == "stale":
                state.uncacheable = True
                state.mark_stale(fetch.department, filled.age)
        if leader or filled.plain is None:
            return filled.value
        return from_plain(filled.plain)  # each request its own copy of the records

    def _start(self, key: str, fetch: UpstreamFetch, proceed: Proceed, ttl: float,
               last: Entry | None) -> asyncio.Future[Filled]:
        flight = asyncio.ensure_future(self._fill(key, fetch, proceed, ttl, last))
        self.flights[key] = flight

        def finished(done: asyncio.Future[Filled]) -> None:
            if self.flights.get(key) is done:
                del self.flights[key]
            if not done.cancelled():
                done.exception()  # retrieved here, so a flight whose waiters all left does not log a warning

        flight.add_done_callback(finished)
        return flight

    async def _fill(self, key: str, fetch: UpstreamFetch, proceed: Proceed, ttl: float,
                    last: Entry | None) -> Filled:
        try:
            value = await proceed()
        except UpstreamError as error:
            if last is not None and (age := last.age(self.clock())) <= self.stale_max_age_s:
                logger.warning("%s failed (%s [%s]); serving its answer from %.1f s ago", fetch.department,
                               error.detail, error.cause_name(), age)
                record_upstream_error(trace.get_current_span(), error)  # the caller sees only extensions.stale
                return Filled(from_plain(last.plain), last.plain, "stale", 0.0, frozenset(last.tags), age)
            raise
        tags = frozenset(tags_of(fetch, value))
        try:
            plain = to_plain(value)
        except Uncacheable as exc:
            logger.warning("%s.%s: answer not cached: %s", fetch.department, fetch.call.name, exc)
            return Filled(value, None, "miss", 0.0, tags)
        payload = orjson.dumps({"at": self.clock(), "ttl": ttl, "tags": sorted(tags), "v": plain})
        await self.store.set(key, payload, max(ttl, self.stale_max_age_s), tags)
        return Filled(value, plain, "miss", ttl, tags)

    def _report(self, fetch: UpstreamFetch, result: str, state: RequestCacheState | None, age: float = 0.0) -> None:
        if self.counter is not None:
            self.counter.inc(fetch.department, result)
        span = trace.get_current_span()
        span.set_attribute(SPAN_ATTRIBUTE, result)
        if age:
            span.set_attribute(f"{SPAN_ATTRIBUTE}.age_s", age)


def _decode(raw: bytes) -> Entry | None:
    try:
        return Entry.decode(raw)
    except (ValueError, KeyError, TypeError):
        logger.warning("unreadable cache entry ignored", exc_info=True)
        return None


_UNREADABLE = object()


def _restore(plain: Any) -> Any:
    try:
        return from_plain(plain)
    except (ValueError, KeyError, TypeError):
        logger.warning("unreadable cache entry ignored", exc_info=True)
        return _UNREADABLE
