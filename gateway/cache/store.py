"""Cache backends on aiocache: a bounded in-memory LRU (the default) or Redis (``YIWANG_CACHE_URL=redis://…``, shared
by every gateway instance), both holding orjson bytes, both with a tag index for invalidation.

A cache that fails never fails a request: ``CacheStore`` logs the problem and behaves as a miss.
The memory backend reads time from a ``clock`` (``time.monotonic`` unless a test brings its own).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from aiocache import RedisCache, SimpleMemoryCache
from aiocache.serializers import BaseSerializer

logger = logging.getLogger("yiwang.cache")
REDIS_TIMEOUT_S = 1.0
Clock = Callable[[], float]


class BytesSerializer(BaseSerializer):
    """Values are already orjson bytes (``gateway.cache.codec``): store them as they are."""

    DEFAULT_ENCODING = None

    def dumps(self, value: Any) -> Any:
        return value

    def loads(self, value: Any) -> Any:
        return value


class BoundedMemoryCache(SimpleMemoryCache):  # type: ignore[misc]
    """aiocache's memory backend with a byte budget and least-recently-used eviction (aiocache's own is an unbounded
    dict with a timer per key). Expiry is checked on read, so no timers either."""

    def __init__(self, max_bytes: int, on_drop: Callable[[str], None], clock: Clock = time.monotonic,
                 **kwargs: Any) -> None:
        super().__init__(serializer=BytesSerializer(), timeout=0, **kwargs)
        self.clock = clock
        self.max_bytes = max_bytes
        self.used_bytes = 0
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # key → (value, expires at)
        self._on_drop = on_drop

    async def _get(self, key: str, encoding: Any = None, _conn: Any = None) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[0]

    async def _set(self, key: str, value: bytes, ttl: float | None = None, _cas_token: Any = None,
                   _conn: Any = None) -> bool:
        if len(value) > self.max_bytes:
            return False
        if key in self._entries:
            self._drop(key, notify=False)
        self._entries[key] = (value, self.clock() + ttl if ttl else float("inf"))
        self.used_bytes += len(value)
        while self.used_bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))
        return True

    async def _add(self, key: str, value: bytes, ttl: float | None = None, _conn: Any = None) -> bool:
        if await self._get(key) is not None:
            raise ValueError(f"Key {key} already exists")
        return await self._set(key, value, ttl)

    async def _exists(self, key: str, _conn: Any = None) -> bool:
        return await self._get(key) is not None

    async def _delete(self, key: str, _conn: Any = None) -> int:
        return self._drop(key)

    async def _clear(self, namespace: str | None = None, _conn: Any = None) -> bool:
        for key in [k for k in self._entries if namespace is None or k.startswith(namespace)]:
            self._drop(key)
        return True

    def _drop(self, key: str, *, notify: bool = True) -> int:
        entry = self._entries.pop(key, None)
        if entry is None:
            return 0
        self.used_bytes -= len(entry[0])
        if notify:
            self._on_drop(key)
        return 1


class CacheStore:
    """get / set with tags / invalidate by tag / add-once, over one aiocache backend."""

    name = "cache"

    async def get(self, key: str) -> bytes | None:
        raise NotImplementedError

    async def set(self, key: str, value: bytes, ttl: float, tags: Iterable[str] = ()) -> None:
        raise NotImplementedError

    async def invalidate(self, tags: Iterable[str]) -> int:
        """Drop every entry carrying one of the tags; the number dropped."""
        raise NotImplementedError

    async def add_once(self, key: str, ttl: float) -> bool:
        """Remember ``key`` for ``ttl`` seconds; False if it was already remembered (a replay)."""
        raise NotImplementedError

    async def clear(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class MemoryStore(CacheStore):
    name = "memory"

    def __init__(self, max_bytes: int, namespace: str, clock: Clock = time.monotonic) -> None:
        self.cache = BoundedMemoryCache(max_bytes, self._forget_tags, clock, namespace=f"{namespace}:")
        self._keys_by_tag: defaultdict[str, set[str]] = defaultdict(set)
        self._tags_by_key: dict[str, tuple[str, ...]] = {}

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self.cache.get(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float, tags: Iterable[str] = ()) -> None:
        if not await self.cache.set(key, value, ttl=ttl):
            return
        full_key = self.cache.build_key(key)
        self._forget_tags(full_key)
        self._tags_by_key[full_key] = tag_tuple = tuple(tags)
        for tag in tag_tuple:
            self._keys_by_tag[tag].add(full_key)

    def _forget_tags(self, full_key: str) -> None:
        for tag in self._tags_by_key.pop(full_key, ()):
            keys = self._keys_by_tag.get(tag)
            if keys is not None:
                keys.discard(full_key)
                if not keys:
                    del self._keys_by_tag[tag]

    async def invalidate(self, tags: Iterable[str]) -> int:
        keys = {key for tag in tags for key in self._keys_by_tag.get(tag, ())}
        return sum(self.cache._drop(key) for key in keys)

    async def add_once(self, key: str, ttl: float) -> bool:
        try:
            return bool(await self.cache.add(key, b"1", ttl=ttl))
        except ValueError:
            return False

    async def clear(self) -> None:
        await self.cache.clear()


class RedisStore(CacheStore):
    """Entries as Redis strings with a PX expiry; each tag a Redis set of the keys carrying it."""

    name = "redis"

    def __init__(self, url: str, namespace: str) -> None:
        parts = urlsplit(url)
        db = parts.path.strip("/") or "0"
        self.cache = RedisCache(serializer=BytesSerializer(), namespace=namespace, timeout=REDIS_TIMEOUT_S,
                                endpoint=parts.hostname or "127.0.0.1", port=parts.port or 6379, db=int(db),
                                password=unquote(parts.password) if parts.password else None)
        self.namespace = namespace

    def _tag_key(self, tag: str) -> str:
        return f"{self.namespace}:tag:{tag}"

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self.cache.get(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float, tags: Iterable[str] = ()) -> None:
        full_key = self.cache.build_key(key)
        ttl_ms = max(int(ttl * 1000), 1)
        async with self.cache.client.pipeline(transaction=False) as pipe:
            pipe.set(full_key, value, px=ttl_ms)
            for tag in tags:
                tag_key = self._tag_key(tag)
                pipe.sadd(tag_key, full_key)
                # A tag set lives as long as the longest entry it names (NX: a fresh set, GT: a longer entry).
                pipe.pexpire(tag_key, ttl_ms, nx=True)
                pipe.pexpire(tag_key, ttl_ms, gt=True)
            await pipe.execute()

    async def invalidate(self, tags: Iterable[str]) -> int:
        tag_keys = [self._tag_key(tag) for tag in tags]
        if not tag_keys:
            return 0
        client = self.cache.client
        members = await client.sunion(tag_keys)
        dropped = int(await client.delete(*members)) if members else 0
        await client.delete(*tag_keys)
        return dropped

    async def add_once(self, key: str, ttl: float) -> bool:
        return bool(await self.cache.client.set(self.cache.build_key(key), b"1", px=max(int(ttl * 1000), 1),
                                                nx=True))

    async def clear(self) -> None:
        client = self.cache.client
        async for batch in _scan_batches(client, f"{self.namespace}:*"):
            await client.delete(*batch)

    async def close(self) -> None:
        await self.cache.client.aclose()


async def _scan_batches(client: Any, pattern: str, size: int = 500) -> Any:
    batch: list[bytes] = []
    async for key in client.scan_iter(match=pattern, count=size):
        batch.append(key)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def open_store(url: str | None, namespace: str, max_bytes: int, clock: Clock = time.monotonic) -> CacheStore:
    """``clock`` times the memory backend's entries; Redis expires its own."""
    if url is None or url.startswith("memory:"):
        return MemoryStore(max_bytes, namespace, clock)
    if url.startswith(("redis://", "rediss://")):
        return RedisStore(url, namespace)
    raise ValueError(f"unsupported cache URL {url!r}: use memory:// or redis://host:port/db")


class SafeStore(CacheStore):
    """A store whose failures are logged and treated as misses, so a cache outage only costs speed."""

    def __init__(self, inner: CacheStore) -> None:
        self.inner = inner
        self.name = inner.name

    async def get(self, key: str) -> bytes | None:
        try:
            return await self.inner.get(key)
        except Exception:
            logger.warning("cache %s: get failed; treating as a miss", self.name, exc_info=True)
            return None

    async def set(self, key: str, value: bytes, ttl: float, tags: Iterable[str] = ()) -> None:
        try:
            await self.inner.set(key, value, ttl, tags)
        except Exception:
            logger.warning("cache %s: set failed; not cached", self.name, exc_info=True)

    async def invalidate(self, tags: Iterable[str]) -> int:
        return await self.inner.invalidate(tags)  # an operator must learn that invalidation failed

    async def add_once(self, key: str, ttl: float) -> bool:
        return await self.inner.add_once(key, ttl)

    async def clear(self) -> None:
        await self.inner.clear()

    async def close(self) -> None:
        await self.inner.close()
