"""Shared fixtures: the five mock departments as real HTTP servers (a `yiwang mocks` subprocess), the ground-truth
inventory they serve, and a gateway wired to them, driven over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.auth.demo import mint_token
from gateway.settings import DEPARTMENT_PORT_OFFSETS, Settings, mock_url
from mocks.city import Inventory, anchor_from_date

TEST_ANCHOR = date(2026, 11, 1)
TEST_SCALE = 1.0
TEST_UPSTREAM_TIMEOUT_S = 3.0  # generous: a loaded CI machine must not turn slow answers into timeouts
STARTUP_TIMEOUT_S = 60


def _ports_free(base: int) -> bool:
    for offset in DEPARTMENT_PORT_OFFSETS.values():
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", base + offset)) == 0:
                return False
    return True


def _free_base_port() -> int:
    for base in range(21000 + (os.getpid() % 200) * 10, 40000, 10):
        if _ports_free(base):
            return base
    raise RuntimeError("no free port range for the mock departments")


class MockDepartments:
    def __init__(self, base_port: int) -> None:
        self.base_port = base_port

    def url(self, department: str) -> str:
        return mock_url(department, self.base_port)

    def set_faults(self, department: str, **faults: Any) -> None:
        httpx.post(f"{self.url(department)}/_mock/faults", json=faults).raise_for_status()

    def reset(self) -> None:
        for department in DEPARTMENT_PORT_OFFSETS:
            self.set_faults(department)

    def requests_since(self, department: str, since: int) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url(department)}/_mock/requests", params={"since": since}).json()
        return list(answer["requests"])

    def total(self, department: str) -> int:
        return int(httpx.get(f"{self.url(department)}/_mock/requests").json()["total"])

    def totals(self) -> dict[str, int]:
        return {department: self.total(department) for department in DEPARTMENT_PORT_OFFSETS}


@pytest.fixture(scope="session")
def mock_departments() -> Iterator[MockDepartments]:
    base = _free_base_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "mocks", "--base-port", str(base), "--scale", str(TEST_SCALE),
         "--anchor", TEST_ANCHOR.isoformat()],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    mocks = MockDepartments(base)
    with serving(process, mocks.totals, lambda: process.stdout.read() if process.stdout else ""):
        yield mocks


@contextmanager
def serving(process: subprocess.Popen[Any], ready: Callable[[], object], output: Callable[[], str],
            timeout_s: float = STARTUP_TIMEOUT_S, poll_s: float = 0.2) -> Iterator[None]:
    """Wait until ``ready()`` gets through (it raises ``httpx.TransportError`` until the server listens), and stop
    ``process`` when the block ends. If the process exits first or is not ready within ``timeout_s``, fail with its
    ``output()``, read once it has stopped (a pipe is read to its end)."""
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{output()}")
            try:
                ready()
                break
            except httpx.TransportError as error:
                if time.monotonic() > deadline:
                    _stop(process)
                    raise RuntimeError(f"{process.args!r} not ready within {timeout_s} s:\n{output()}") from error
                time.sleep(poll_s)
        yield
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def inventory() -> Inventory:
    """The same deterministic inventory the mock departments serve."""
    return Inventory(scale=TEST_SCALE, anchor=anchor_from_date(TEST_ANCHOR))


def gateway_settings(mocks: MockDepartments, **overrides: Any) -> Settings:
    """Production settings wired to the mocks, trusting the demo issuer so tests can mint real signed tokens."""
    urls = {f"{name}_url": mocks.url(name) for name in DEPARTMENT_PORT_OFFSETS}
    # Every request traced: tests look at the trace of the request they sent.
    return Settings(**{"upstream_timeout_s": TEST_UPSTREAM_TIMEOUT_S, "trust_demo_issuer": True,
                       "trace_sample_ratio": 1.0, **urls, **overrides})


def bearer(tier: str, region: str, *roles: str, departments: list[str] | None = None) -> dict[str, str]:
    token = mint_token(tier, region, roles or ("viewer",), departments=departments)
    return {"authorization": f"Bearer {token}"}


NATIONAL_VIEWER = ("NATIONAL", "000000", "viewer")


@pytest.fixture
async def gateway_app(mock_departments: MockDepartments) -> AsyncIterator[Starlette]:
    app = create_app(gateway_settings(mock_departments))
    yield app
    mock_departments.reset()
    await app.state.connector_source.aclose()


@pytest.fixture
async def gateway(gateway_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of a national analyst on a gateway wired to the mock departments; faults are reset after
    each test."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway_app), base_url="http://gateway",
                                 timeout=30, headers=bearer(*NATIONAL_VIEWER)) as client:
        yield client


async def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
                  ) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.headers["content-type"].startswith("application/json"), response.text
    body: dict[str, Any] = response.json()
    return without_trace_id(body)


def without_trace_id(body: dict[str, Any]) -> dict[str, Any]:
    """The answer without ``extensions.traceId``, which differs on every request (tests/test_tracing.py checks it),
    so that answers compare equal."""
    extensions = {k: v for k, v in body.get("extensions", {}).items() if k != "traceId"}
    rest = {k: v for k, v in body.items() if k != "extensions"}
    return {**rest, "extensions": extensions} if extensions else rest


# Redis keys of one test under a prefix of its own, deleted afterwards (the cache tests on the real Redis).
REDIS_URL = "redis://127.0.0.1:6379/0"

@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"yiwang-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        client.delete(*keys)
    client.close()
