"""A gateway served the way an operator runs it: ``yiwang serve`` in a subprocess (uvicorn), wired to the mock
departments, driven over real HTTP. Tests that care what happens on the wire (a dropped connection, a status line,
state left behind for the next request) use this instead of an in-process ASGI client. Also: small loopback servers
in threads (``ThreadedServers``, ``RedirectingDepartment``) and a water connector over the real water mock whose
answers carry an unreadable attribute."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from connectors.client import DepartmentClient
from connectors.water import WaterConnector
from gateway.settings import DEPARTMENT_PORT_OFFSETS
from tests.conftest import TEST_UPSTREAM_TIMEOUT_S, MockDepartments, serving

STARTUP_TIMEOUT_S = 30.0
STARTUP_POLL_S = 0.1
UNREADABLE_DIAMETER = "约七百"


@dataclass
class ServedGateway:
    url: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def post(self, body: Any = None, *, content: bytes | str | None = None, headers: Mapping[str, str] | None = None,
             timeout: float = 30) -> httpx.Response:
        """POST /graphql: ``body`` as JSON, or raw ``content`` (with a JSON content type unless headers say else)."""
        all_headers = {"content-type": "application/json", **(headers or {})}
        if content is None:
            import orjson

            content = orjson.dumps(body)
        return httpx.post(f"{self.url}/graphql", content=content, headers=all_headers, timeout=timeout)

    def get(self, path: str, *, params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
            timeout: float = 30) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, headers=headers, timeout=timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served_gateway(mocks: MockDepartments | None, log_dir: Path, env: Mapping[str, str] | None = None, *,
                   cwd: Path | None = None) -> Iterator[ServedGateway]:
    """Start ``yiwang serve`` (in ``cwd``, else this process's directory) on a free port with production defaults,
    the demo issuer trusted (so tests can mint tokens), the department URLs of ``mocks`` and ``env`` on top; stop it
    afterwards."""
    port = free_port()
    process_env = {name: value for name, value in os.environ.items() if not name.startswith("YIWANG_")}
    if mocks is not None:
        process_env.update({f"YIWANG_{d.upper()}_URL": mocks.url(d) for d in DEPARTMENT_PORT_OFFSETS})
    process_env.update({"YIWANG_PORT": str(port), "YIWANG_TRUST_DEMO_ISSUER": "true", "YIWANG_TRACE_SAMPLE_RATIO": "1",
                        "YIWANG_UPSTREAM_TIMEOUT_S": str(TEST_UPSTREAM_TIMEOUT_S), **(env or {})})
    log_path = log_dir / f"gateway-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], env=process_env, cwd=cwd,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    served = ServedGateway(f"http://127.0.0.1:{port}", log_path)
    with serving(process, lambda: httpx.get(f"{served.url}/healthz").raise_for_status(), served.log_text,
                 STARTUP_TIMEOUT_S, STARTUP_POLL_S):
        yield served


class ThreadedServers:
    """Starlette apps served by uvicorn on loopback ports, each in a daemon thread, while the ``with`` block lasts."""

    def __init__(self, apps: Iterable[tuple[Starlette, int]]) -> None:
        self.servers = [uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning")) for app, port in apps]
        self.threads = [threading.Thread(target=server.run, daemon=True) for server in self.servers]

    def __enter__(self) -> Self:
        for thread in self.threads:
            thread.start()
        while not all(server.started for server in self.servers):
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.should_exit = True
        for thread in self.threads:
            thread.join(5)


class RedirectingDepartment(ThreadedServers):
    """A loopback department that answers every request with a redirect to ``location`` (changeable while it runs;
    ``{target_port}`` in it stands for the target's port), and a target server that counts the requests reaching it."""

    def __init__(self, location: str = "") -> None:
        self.location = location
        self.redirects = 0
        self.hits = 0
        self.port, self.target_port = free_port(), free_port()

        async def redirect(request: Request) -> Response:
            self.redirects += 1
            target = self.location.replace("{target_port}", str(self.target_port))
            return RedirectResponse(f"{target}{request.url.path}", status_code=302)

        async def target(request: Request) -> Response:
            self.hits += 1
            return PlainTextResponse('{"ok": true}', media_type="application/json")

        super().__init__((Starlette(routes=[Route("/{path:path}", handler)]), port)
                         for handler, port in ((redirect, self.port), (target, self.target_port)))


@asynccontextmanager
async def water_with_unreadable_diameters(mocks: MockDepartments) -> AsyncIterator[WaterConnector]:
    """A water connector reading the water mock of ``mocks``, every row's ``diameter_mm`` replaced by
    ``UNREADABLE_DIAMETER``: the call succeeds, and the class attributes fail when first read."""
    async with httpx.AsyncClient(base_url=mocks.url("water")) as mock:

        async def garbling(request: httpx.Request) -> httpx.Response:
            answer = await mock.get(request.url.path, params=request.url.params)
            body = answer.json()
            for row in body["data"]["records"]:
                row["attrs"]["diameter_mm"] = UNREADABLE_DIAMETER
            return httpx.Response(200, json=body)

        yield WaterConnector(DepartmentClient("http://water", transport=httpx.MockTransport(garbling)))


def registry_env(directory: Path, allowlist: str = "127.0.0.1", **extra: str) -> dict[str, str]:
    """Settings of a served gateway with a connector registry of its own (SQLite in ``directory``), a throw-away
    secret key and the response cache off, so that what a test registers is what it reads."""
    from cryptography.fernet import Fernet

    return {"YIWANG_DATABASE_URL": f"sqlite:///{directory / 'registry.sqlite3'}",
            "YIWANG_SECRET_KEY": Fernet.generate_key().decode(), "YIWANG_CONNECTOR_ALLOWLIST": allowlist,
            "YIWANG_CACHE_ENABLED": "false", **extra}
