"""The connector registry as a connector source: on start it loads the enabled specs, then watches the registry (a
poll every ``YIWANG_REGISTRY_POLL_S``, woken at once by PostgreSQL ``NOTIFY``) and tells the gateway whenever any
instance changed it, so that a new connector set is served. Requests keep the set they started with; replaced
connectors close after ``YIWANG_REGISTRY_DRAIN_S``. Its ``routes()`` are the admin API (``gateway/registry/api.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import psycopg
from sqlalchemy.engine import make_url
from starlette.routing import BaseRoute

from connectors.client import FetchHook
from connectors.spec.connector import SpecConnector, connector_class
from connectors.spec.model import ConnectorSpec
from gateway.registry.allowlist import Allowlist
from gateway.registry.egress import guarded_client
from gateway.registry.secrets import SecretBox
from gateway.registry.store import NOTIFY_CHANNEL, ConnectorVersion, RegistryStore
from gateway.router import ConnectorSet
from gateway.settings import Settings
from gateway.sources import SourceHost

logger = logging.getLogger("yiwang.registry")
LISTEN_RETRY_S = 1.0


class RegistrySource:
    """A ``ConnectorSource``: the registry's enabled specs, each replacing the code connector of its department."""

    def __init__(self, settings: Settings, hooks: Sequence[FetchHook] = ()) -> None:
        self.settings = settings
        self.hooks = tuple(hooks)  # every registered connector's HTTP exchanges pass through them
        self.allowlist = Allowlist.parse(settings.connector_allowlist)
        self.secrets = SecretBox(settings.secret_key)
        self.store: RegistryStore | None = None
        self.revision = -1
        self._host: SourceHost | None = None
        self._spec_connectors: dict[int, SpecConnector] = {}  # by registry row id
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    def connectors(self) -> list[SpecConnector]:
        return list(self._spec_connectors.values())

    def serving(self) -> ConnectorSet:
        """The set the gateway serves (every source's connectors), once started."""
        assert self._host is not None, "the registry source has not started"
        return self._host.current

    def routes(self) -> list[BaseRoute]:
        from gateway.registry.api import admin_routes

        return admin_routes(self)

    # --- lifecycle ------------------------------------------------------------------------------------------------
    async def start(self, host: SourceHost) -> None:
        settings = self.settings
        self._host = host
        self.store = await asyncio.to_thread(RegistryStore, settings.database_url, self.secrets,
                                             schema=settings.database_schema)
        await self.reload()
        self._tasks.append(asyncio.create_task(self._watch()))
        if self.store.is_postgres:
            self._tasks.append(asyncio.create_task(self._listen()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.store is not None:
            self.store.close()

    # --- building connectors --------------------------------------------------------------------------------------
    def make_connector(self, spec: ConnectorSpec) -> SpecConnector:
        """A connector for ``spec`` whose every request (each redirect hop too) is checked against the allowlist."""
        client = guarded_client(self.allowlist, spec.base_url, spec.timeout_s, department=spec.department,
                                hooks=self.hooks)
        return connector_class(spec)(client, regions=tuple(spec.regions), timeout_s=spec.timeout_s)

    async def reload(self) -> bool:
        """Offer the registry's current connectors if anything changed since the last look."""
        store, host = self.store, self._host
        if store is None or host is None:
            return False
        async with self._lock:
            revision = await asyncio.to_thread(store.revision)
            if revision == self.revision:
                return False
            rows = await asyncio.to_thread(store.current)
            built: dict[int, SpecConnector] = {}
            for row in rows:
                if not row.enabled:
                    continue
                connector = self._spec_connectors.get(row.id or 0) or self._build(row)
                if connector is not None:
                    built[row.id or 0] = connector
            self._spec_connectors = built
            host.changed()
            self.revision = revision
            logger.info("connector set now %s (registry revision %d)", sorted(c.department_id for c in host.current),
                        revision)
            return True

    def _build(self, row: ConnectorVersion) -> SpecConnector | None:
        assert self.store is not None
        try:
            return self.make_connector(self.store.spec_of(row))
        except Exception as exc:  # one broken registration must not keep the others out
            logger.error("connector %s version %d not loaded: %s", row.department, row.version, exc)
            return None

    # --- watching ---------------------------------------------------------------------------------------------------
    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.registry_poll_s)
            self._wake.clear()
            try:
                await self.reload()
            except Exception:
                logger.exception("registry reload failed; retrying")

    async def _listen(self) -> None:
        url = make_url(self.settings.database_url).set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
                    await connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._wake.set()  # catch up on anything missed while not listening
                    async for _ in connection.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("registry LISTEN connection lost (%s); polling meanwhile", type(exc).__name__)
                await asyncio.sleep(LISTEN_RETRY_S)
