"""The `yiwang` command as a user runs it: `yiwang demo` brings up the gateway and five mock departments."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import _free_base_port, _ports_free

YIWANG = Path(sys.executable).with_name("yiwang")
STARTUP_TIMEOUT_S = 60


def _printed_token(demo: tuple[str, subprocess.Popen[str]], label: str) -> str:
    """Read the demo's output up to the token printed for ``label``."""
    _, process = demo
    assert process.stdout is not None
    seen = demo_output.setdefault(id(process), [])
    while not any(line.strip().startswith(label) for line in seen):
        line = process.stdout.readline()
        assert line, f"no token for {label!r} in {seen}"
        seen.append(line)
    return next(line for line in seen if line.strip().startswith(label)).rsplit(": ", 1)[1].strip()


demo_output: dict[int, list[str]] = {}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _free_demo_base() -> int:
    """Mock ports clear of the test mocks' range and of any demo still running (two may run at once here)."""
    base = _free_base_port() + 5000
    while not _ports_free(base):
        base += 10
    return base


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """One demo shared by the tests that only ask it questions."""
    with running_demo() as started:
        yield started


@pytest.fixture
def own_demo() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A demo of its own, for a test that stops it."""
    with running_demo() as started:
        yield started


@contextmanager
def running_demo() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port, base = _free_port(), _free_demo_base()
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIWANG_")}
    process = subprocess.Popen([str(YIWANG), "demo", "--port", str(port), "--base-port", str(base), "--scale", "0.2"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                if httpx.get(f"{url}/readyz").json()["status"] == "ready":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "demo did not become ready"
            time.sleep(0.3)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.communicate(timeout=10)


def test_demo_answers_a_first_query_across_departments(demo: tuple[str, subprocess.Popen[str]]) -> None:
    url, _ = demo
    anonymous = httpx.post(f"{url}/graphql", json={"query": '{ components(filter: {classCodes: ["0113"]}) '
                                                            '{ totalCount } }'}).json()
    assert anonymous["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    token = _printed_token(demo, "municipal dispatcher")
    response = httpx.post(f"{url}/graphql", headers={"authorization": f"Bearer {token}"}, json={"query": """{
        departments { id healthy }
        components(filter: {regionCode: "370811", classCodes: ["0113", "0203", "0308", "2150"]}, first: 2000) {
          totalCount nodes { id department } }
        events(first: 5) { nodes { id status component { id } } } }"""}, timeout=30)
    body = response.json()
    assert "errors" not in body, body
    assert all(d["healthy"] for d in body["data"]["departments"])
    assert {n["department"] for n in body["data"]["components"]["nodes"]} == {
        "water", "transport", "environment", "housing"}
    assert len(body["data"]["events"]["nodes"]) == 5


def test_demo_serves_graphiql_and_printed_its_url(own_demo: tuple[str, subprocess.Popen[str]]) -> None:
    url, process = own_demo
    page = httpx.get(f"{url}/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    process.terminate()
    output = "".join(demo_output.get(id(process), [])) + process.communicate(timeout=10)[0]
    assert f"GraphiQL: {url}/graphql" in output
