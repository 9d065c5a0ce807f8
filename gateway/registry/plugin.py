"""The registry as a gateway plugin: on start it loads the enabled specs into the connector set, then watches the
registry (a poll every ``YIWANG_REGISTRY_POLL_S``, woken at once by PostgreSQL ``NOTIFY``) and swaps in a new
connector set whenever any instance changed it. Requests keep the set they started with; replaced connectors close
after ``YIWANG_REGISTRY_DRAIN_S``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy.engine import make_url
from starlette.routing import BaseRoute

from connectors.base import Connector
from connectors.client import DepartmentClient
from connectors.spec.connector import SpecConnector, connector_class
from connectors.spec.model import ConnectorSpec, DeclaredType
from gateway.departments import fetch_hooks
from gateway.plugins import Plugin
from gateway.registry.allowlist import Allowlist
from gateway.registry.egress import guarded_client
from gateway.registry.secrets import SecretBox
from gateway.registry.store import NOTIFY_CHANNEL, ConnectorVersion, RegistryStore
from gateway.router import ConnectorSet, ConnectorSource
from gateway.settings import Settings
from schema.declared import activate, declared_types

if TYPE_CHECKING:
    from starlette.applications import Starlette

logger = logging.getLogger("yiwang.registry")
LISTEN_RETRY_S = 1.0


class RegistryPlugin(Plugin):
    name = "registry"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.allowlist = Allowlist.parse(settings.connector_allowlist)
        self.secrets = SecretBox(settings.secret_key)
        self.store: RegistryStore | None = None
        self.app: Starlette | None = None
        self.code_connectors: dict[str, Connector] = {}
        self.revision = -1
        self._spec_connectors: dict[int, SpecConnector] = {}  # by registry row id
        self._declared_key: tuple[tuple[str, str], ...] = ()  # the declared types the served schema has
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    def attach(self, app: Starlette) -> None:
        self.app = app

    @property
    def source(self) -> ConnectorSource:
        assert self.app is not None, "RegistryPlugin.attach(app) was not called"
        source: ConnectorSource = self.app.state.connector_source
        return source

    def routes(self) -> list[BaseRoute]:
        from gateway.registry.api import admin_routes

        return admin_routes(self)

    # --- lifecycle ------------------------------------------------------------------------------------------------
    async def startup(self) -> None:
        settings = self.settings
        self.store = await asyncio.to_thread(RegistryStore, settings.database_url, self.secrets,
                                             schema=settings.database_schema)
        self.source.drain_s = settings.registry_drain_s
        self.code_connectors = {c.department_id: c for c in self.source.current}
        await self.reload()
        self._tasks.append(asyncio.create_task(self._watch()))
        if self.store.is_postgres:
            self._tasks.append(asyncio.create_task(self._listen()))

    async def shutdown(self) -> None:
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
        hooks = fetch_hooks(self.app.state.plugins if self.app is not None else ())
        client = guarded_client(self.allowlist, spec.base_url, spec.timeout_s, department=spec.department, hooks=hooks)
        return connector_class(spec)(client, regions=tuple(spec.regions), timeout_s=spec.timeout_s)

    async def reload(self) -> bool:
        """Swap in the registry's current connectors if anything changed since the last look."""
        store = self.store
        if store is None:
            return False
        async with self._lock:
            revision = await asyncio.to_thread(store.revision)
            if revision == self.revision:
                return False
            rows = await asyncio.to_thread(store.current)
            connectors = dict(self.code_connectors)
            built: dict[int, SpecConnector] = {}
            for row in rows:
                if not row.enabled:
                    continue
                connector = self._spec_connectors.get(row.id or 0) or self._build(row)
                if connector is not None:
                    built[row.id or 0] = connector
                    connectors[row.department] = connector  # a spec replaces a code connector of its department
            self.source.replace(ConnectorSet(connectors.values()))
            self._spec_connectors = built
            self.revision = revision
            logger.info("connector set now %s (registry revision %d)", sorted(connectors), revision)
            self._swap_schema(list(built.values()))
            return True

    def _swap_schema(self, connectors: list[SpecConnector]) -> None:
        """Rebuild the GraphQL schema when the types the enabled specs declare changed (requests keep theirs)."""
        declarations = declared_by_class(connectors)
        key = tuple((code, declared.model_dump_json()) for code, declared in declarations)
        if key == self._declared_key or self.app is None or not hasattr(self.app.state, "make_schema"):
            return
        try:
            types = declared_types(declarations)
            schema = self.app.state.make_schema([t.strawberry_type for t in types])
        except Exception as exc:  # a schema that cannot be built keeps the one being served
            logger.error("declared types %s not added to the schema: %s", [n for n, _ in key], exc)
            return
        self.app.state.graphql_view.schema = schema
        activate(types)
        self._declared_key = key
        logger.info("schema now has the declared types %s", sorted(t.type_name for t in types))

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

    def code_connector_entry_points(self) -> list[dict[str, Any]]:
        from importlib.metadata import entry_points

        return [{"name": ep.name, "class": ep.value} for ep in entry_points(group="yiwang.connectors")]


def declared_by_class(connectors: list[SpecConnector]) -> list[tuple[str, DeclaredType]]:
    """The types the specs declare, one per class and per name: where two specs declare the same class or name,
    the department first in order keeps it."""
    by_class: dict[str, DeclaredType] = {}
    owners: dict[str, str] = {}
    for connector in sorted(connectors, key=lambda c: c.department_id):
        for code, declared in connector.spec.types.items():
            if code in by_class or declared.type_name in owners:
                logger.error("%s declares type %s for class %s, already declared by %s; ignored",
                             connector.department_id, declared.type_name, code,
                             owners.get(declared.type_name) or owners.get(by_class[code].type_name))
                continue
            by_class[code] = declared
            owners[declared.type_name] = connector.department_id
    return sorted(by_class.items())


def dry_run_client(plugin: RegistryPlugin, spec: ConnectorSpec) -> DepartmentClient:
    return guarded_client(plugin.allowlist, spec.base_url, spec.timeout_s)
