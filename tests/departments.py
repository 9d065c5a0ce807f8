"""Mock department apps served on real loopback sockets, and clients to them: the connector's ``DepartmentClient``
(the stack production uses: the lean keep-alive GETs, httpx for the rest, the gateway's fetch hooks) and a plain
httpx client for the mock's own control endpoints (``/_mock/faults``, ``/_mock/requests``).

Each app is served once, by uvicorn in a daemon thread (``tests.served.ThreadedServers``), the first time a test asks
for it, and stays up until the test process ends: a module's shared app costs one server, not one per test.
"""

from __future__ import annotations

import atexit
from typing import Any

import httpx
from starlette.types import ASGIApp

from connectors.client import DEFAULT_TIMEOUT_S, DepartmentClient
from gateway.departments import fetch_hooks
from gateway.registry.allowlist import Allowlist
from gateway.registry.egress import guarded_client
from tests.served import ThreadedServers, free_port

_SERVED: dict[int, tuple[ASGIApp, ThreadedServers, str]] = {}  # by id(app); the app is kept so its id stays its own


def served_url(app: ASGIApp) -> str:
    """The base URL of ``app`` served on a loopback port (started on first use)."""
    served = _SERVED.get(id(app))
    if served is None:
        port = free_port()
        servers = ThreadedServers([(app, port)])  # type: ignore[list-item]  # any ASGI app serves
        servers.__enter__()
        served = _SERVED[id(app)] = (app, servers, f"http://127.0.0.1:{port}")
    return served[2]


def department_client(app: ASGIApp, **options: Any) -> DepartmentClient:
    """The production client stack to ``app``'s socket, with the gateway's fetch hooks (tracing)."""
    options.setdefault("hooks", fetch_hooks(()))
    return DepartmentClient(served_url(app), **options)


def spec_client(base_url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> DepartmentClient:
    """The client the registry gives a registered (spec) connector — httpx over the allowlist's guarded transport —
    admitting loopback, where the mock departments listen."""
    return guarded_client(Allowlist(["127.0.0.1"]), base_url, timeout_s, hooks=fetch_hooks(()))


def control_client(app: ASGIApp) -> httpx.AsyncClient:
    """A plain httpx client to ``app``'s socket, for its control endpoints and raw dialect checks."""
    return httpx.AsyncClient(base_url=served_url(app), timeout=30)


@atexit.register
def _stop_all() -> None:
    for _, servers, _ in _SERVED.values():
        servers.__exit__(None, None, None)
