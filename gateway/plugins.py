"""Plugins: one per cross-cutting behaviour (tracing, caching, …), with hooks named after the pipeline stage.

- ``on_upstream_fetch(fetch, proceed)`` wraps every department call (``UpstreamFetch``): a plugin may look at it,
  time it, answer it without calling ``proceed`` (a cache hit) or handle ``proceed``'s failure (stale-if-error).
- ``schema_extensions()`` adds strawberry schema extensions (operation, parse, validate, execute stages).
- ``asgi_middleware()`` wraps the HTTP request (``on_request``), ``routes()`` adds endpoints (admin, metrics).
- ``startup()`` / ``shutdown()`` follow the app's lifespan.

Plugins run in the order given; the first wraps all the others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from starlette.middleware import Middleware
from starlette.routing import BaseRoute

if TYPE_CHECKING:
    import httpx

    from connectors.base import Connector
    from connectors.calls import DepartmentCall
    from connectors.client import Exchange
    from connectors.client import Proceed as FetchProceed
    from gateway.metrics import MetricsRegistry

ResultT = TypeVar("ResultT")


@dataclass(frozen=True, slots=True)
class UpstreamFetch(Generic[ResultT]):
    """One call to one department: which typed call (``connectors.calls``), to which connector, for whom."""

    connector: Connector
    call: DepartmentCall[ResultT]  # its ``name`` (search_components, get_components, …) labels spans and metrics
    scope_key: tuple[Any, ...] = ()  # what shaped the request for this caller (region scope, masking level)
    request: Any = field(default=None, compare=False)  # the RequestContext, if any

    @property
    def department(self) -> str:
        return self.connector.department_id


Proceed = Callable[[], Awaitable[Any]]


class Plugin:
    name = "plugin"

    def register_metrics(self, registry: MetricsRegistry) -> None:
        """Create this plugin's metrics on the app's registry (rendered at ``/metrics``)."""
        return None

    def schema_extensions(self) -> list[Any]:
        return []

    def asgi_middleware(self) -> list[Middleware]:
        return []

    def routes(self) -> list[BaseRoute]:
        return []

    async def on_upstream_fetch(self, fetch: UpstreamFetch, proceed: Proceed) -> Any:
        return await proceed()

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def on_fetch(self, exchange: Exchange, proceed: FetchProceed) -> httpx.Response:
        """Wraps every HTTP exchange with a department (``connectors.client``): GETs and POSTs of code and spec
        connectors, each redirect hop and auth retry; ``exchange.headers`` may be changed before ``proceed``."""
        return await proceed()


def chain_fetch(plugins: Sequence[Plugin], fetch: UpstreamFetch, terminal: Proceed) -> Awaitable[Any]:
    """``terminal`` wrapped by every plugin's ``on_upstream_fetch``, the first plugin outermost."""
    proceed = terminal
    for plugin in reversed(plugins):
        if type(plugin).on_upstream_fetch is Plugin.on_upstream_fetch:
            continue
        proceed = _wrap(plugin, fetch, proceed)
    return proceed()


def _wrap(plugin: Plugin, fetch: UpstreamFetch, proceed: Proceed) -> Proceed:
    def wrapped() -> Awaitable[Any]:
        return plugin.on_upstream_fetch(fetch, proceed)

    return wrapped
