"""Per-request state, one ``RequestContext`` per GraphQL request: who asks (``access``), the departments joined
(``connectors``), the department calls made for it (through the plugins, with the caller's scope key), the
departments that failed, and its join loaders.

What the request does with them lives elsewhere: who may see what in ``gateway.scoping``, searches and statistics
across departments in ``gateway.search``, joins in ``gateway.joins``. Those raise or return the departments that
failed; the resolver records them at its own path with ``reported`` and ``loaded``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, TypeVar

from starlette.requests import Request

from connectors.base import Connector
from connectors.calls import CHECK_HEALTH, DepartmentCall
from gateway.auth.policy import Access, load_policy
from gateway.auth.principal import NATIONAL_SERVICE
from gateway.exceptions import UpstreamError
from gateway.fanout import UpstreamFailures, call_department, gather_departments, health_problem, path_of
from gateway.joins import JoinLoaders
from gateway.pagination import CursorCodec
from gateway.plugins import Plugin, UpstreamFetch
from gateway.router import ConnectorSet

ResultT = TypeVar("ResultT")
CHINA_TZ = timezone(timedelta(hours=8))


class RequestContext:
    def __init__(self, connectors: ConnectorSet, codec: CursorCodec, request: Request | None = None,
                 access: Access | None = None, plugins: Sequence[Plugin] = ()) -> None:
        self.connectors = connectors
        self.plugins = plugins
        self.access = access or Access(NATIONAL_SERVICE, load_policy())
        self.codec = codec
        self.request = request
        self.now = datetime.now(CHINA_TZ)
        self.failures = UpstreamFailures()
        self._joins: JoinLoaders | None = None  # made on first use: most requests join nothing
        self._health: dict[str, Awaitable[str | None]] = {}

    @property
    def joins(self) -> JoinLoaders:
        if self._joins is None:
            self._joins = JoinLoaders(self)
        return self._joins

    # --- department calls, on behalf of this request -----------------------------------------------------------------
    def fetch(self, connector: Connector, call: DepartmentCall[ResultT]) -> UpstreamFetch[ResultT]:
        return UpstreamFetch(connector, call, self.access.scope_key(), self)

    async def call(self, connector: Connector, call: DepartmentCall[ResultT]) -> ResultT:
        return await call_department(self.fetch(connector, call), self.plugins)

    async def gather(self, fetches: Sequence[UpstreamFetch[Any]]) -> list[Any]:
        return await gather_departments(fetches, self.plugins)

    # --- health ------------------------------------------------------------------------------------------------------
    async def department_problem(self, department_id: str) -> str | None:
        """None when the department answers its health check, else the reason; checked once per request."""
        if department_id not in self._health:
            self._health[department_id] = asyncio.ensure_future(self._check(department_id))
        return await self._health[department_id]

    async def _check(self, department_id: str) -> str | None:
        connector = self.connectors.get(department_id)
        if connector is None:
            return "no such department"
        return await health_problem(self.fetch(connector, CHECK_HEALTH), self.plugins)


# --- at the resolver: failures recorded with the resolver's path ------------------------------------------------------
class WithFailures(Protocol):
    @property
    def failures(self) -> Sequence[UpstreamError]: ...


AnswerT = TypeVar("AnswerT", bound=WithFailures)


def reported(info: Any, answer: AnswerT) -> AnswerT:
    """``answer``, with the departments missing from it recorded at the resolver's path (``info.path``)."""
    if answer.failures:
        failures: UpstreamFailures = info.context.failures
        path = path_of(info)
        for error in answer.failures:
            failures.record(error, path)
    return answer


async def loaded(info: Any, join: Awaitable[ResultT], missing: ResultT) -> ResultT:
    """The joined value, or ``missing`` with the failed department recorded at the resolver's path."""
    try:
        return await join
    except UpstreamError as error:
        info.context.failures.record(error, path_of(info))
        return missing
