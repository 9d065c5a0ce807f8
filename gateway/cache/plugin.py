"""The CachePlugin: connector-level caching on every department call, APQ and the response cache as schema
extensions, the invalidation endpoints, and the cache counters on ``/metrics``."""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.cache.fetches import FetchCache
from gateway.cache.invalidation import admin_invalidate, department_webhook
from gateway.cache.operations import persisted_queries, response_cache
from gateway.cache.store import CacheStore, Clock, SafeStore, open_store
from gateway.exceptions import ConfigurationError
from gateway.metrics import Counter, MetricsRegistry
from gateway.plugins import Plugin, Proceed, UpstreamFetch
from gateway.settings import Settings

WEBHOOK_PATH = "/cache/invalidate"
ADMIN_PATH = "/admin/cache/invalidate"


def parse_ttl_overrides(text: str | None) -> dict[str, float]:
    """``{"citymgmt.alerts": 10, "readings": 5}``: seconds per "department.kind" or per kind (0: not cached)."""
    if not text:
        return {}
    try:
        overrides = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ConfigurationError(f"YIWANG_CACHE_TTLS is not JSON: {exc}") from exc
    if not isinstance(overrides, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in overrides.values()):
        raise ConfigurationError('YIWANG_CACHE_TTLS must map "department.kind" or "kind" to seconds >= 0')
    return {str(k): float(v) for k, v in overrides.items()}


class CachePlugin(Plugin):
    name = "cache"

    def __init__(self, settings: Settings, store: CacheStore | None = None, clock: Clock | None = None) -> None:
        """``clock``: one time source for entry ages and the memory backend's expiry (tests bring their own)."""
        self.settings = settings
        try:
            inner = store or open_store(settings.cache_url, settings.cache_prefix, settings.cache_memory_max_bytes,
                                        clock or time.monotonic)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
        self.store = SafeStore(inner)
        self.fetch_counter: Counter | None = None
        self.response_counter: Counter | None = None
        self.apq_counter: Counter | None = None
        self.invalidation_counter: Counter | None = None
        self.fetches = FetchCache(self.store, None, ttl_overrides=parse_ttl_overrides(settings.cache_ttls),
                                  stale_max_age_s=settings.cache_stale_max_age_s, clock=clock or time.time)

    def register_metrics(self, registry: MetricsRegistry) -> None:
        self.fetch_counter = registry.counter(
            "yiwang_cache_fetches_total", "Department calls by cache outcome (hit, miss, stale, coalesced)",
            ("connector", "result"))
        self.fetches.counter = self.fetch_counter
        self.response_counter = registry.counter(
            "yiwang_cache_responses_total", "Read-only operations by response-cache outcome", ("result",))
        self.apq_counter = registry.counter(
            "yiwang_cache_persisted_queries_total", "Automatic persisted query lookups", ("result",))
        self.invalidation_counter = registry.counter(
            "yiwang_cache_invalidated_entries_total", "Cache entries dropped by invalidation", ("source",))

    def count_response(self, result: str) -> None:
        if self.response_counter is not None:
            self.response_counter.inc(result)

    def count_apq(self, result: str) -> None:
        if self.apq_counter is not None:
            self.apq_counter.inc(result)

    def count_invalidation(self, source: str, dropped: int) -> None:
        if self.invalidation_counter is not None:
            self.invalidation_counter.inc(source, amount=dropped)

    def schema_extensions(self) -> list[Any]:
        return [persisted_queries(self), response_cache(self)]

    def routes(self) -> list[BaseRoute]:
        async def webhook(request: Request) -> Response:
            return await department_webhook(self, request)

        async def admin(request: Request) -> Response:
            return await admin_invalidate(self, request)

        return [Route(WEBHOOK_PATH, webhook, methods=["POST"]), Route(ADMIN_PATH, admin, methods=["POST"])]

    async def on_upstream_fetch(self, fetch: UpstreamFetch, proceed: Proceed) -> Any:
        return await self.fetches.fetch(fetch, proceed)

    async def shutdown(self) -> None:
        await self.store.close()
