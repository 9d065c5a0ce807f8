"""What a declarative connector costs next to the code connector it replaces, and how fast a registration reaches
another instance.

    .venv/bin/python -m bench.registry_bench [--rounds 30]

1. Mapping: records per second turning one page of 1,000 water facilities into records (spec vs code).
2. Search: median/p90 latency of a 200-item search against the mock department (spec vs code), water, transport,
   housing.
3. Hot reload: seconds from a registration on instance A until instance B serves it, two instances on the local
   PostgreSQL (database ``test``, a throw-away schema), NOTIFY-woken (poll interval set to 30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml
from cryptography.fernet import Fernet

from bench.harness import free_base_port
from connectors import water
from connectors.client import DepartmentClient
from connectors.housing import HousingConnector
from connectors.records import ComponentQuery
from connectors.spec.connector import connector_class
from connectors.spec.model import load_spec
from connectors.transport import TransportConnector
from gateway.app import create_app
from gateway.auth.demo import mint_token
from gateway.settings import Settings

SPECS = Path(__file__).resolve().parent.parent / "connectors" / "specs"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CODE = {"water": lambda c: water.WaterConnector(c), "transport": lambda c: TransportConnector(c),
        "housing": lambda c: HousingConnector(c, client_id="yiwang-gateway", client_secret="housing-demo-secret")}


def url(base: int, offset: int) -> str:
    return f"http://127.0.0.1:{base + offset}"


async def timed(call: Callable[[], Awaitable[Any]], rounds: int) -> list[float]:
    await call()  # warm the pool and any token
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"median {statistics.median(ordered):6.1f} ms  p90 {ordered[int(len(ordered) * 0.9) - 1]:6.1f} ms"


async def mapping(base: int) -> None:
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"{url(base, 1)}/api/v1/facilities", params={"size": 1000})).json()
    rows = body["data"]["records"]
    spec = load_spec(SPECS / "water.yaml")
    mapper = connector_class(spec)(DepartmentClient("http://unused")).mapper
    for label, convert in (("code", water.to_record), ("spec", mapper.to_record)):
        started = time.perf_counter()
        for _ in range(5):
            for row in rows:
                convert(row)
        rate = 5 * len(rows) / (time.perf_counter() - started)
        print(f"  mapping water records  {label}: {rate:10,.0f} records/s")


async def searches(base: int, rounds: int) -> None:
    offsets = {"water": 1, "transport": 2, "housing": 4}
    for department, offset in offsets.items():
        spec = load_spec(SPECS / f"{department}.yaml").model_copy(update={"base_url": url(base, offset)})
        for label, connector in (("code", CODE[department](DepartmentClient(url(base, offset)))),
                                 ("spec", connector_class(spec)(DepartmentClient(url(base, offset), lean=False)))):
            samples = await timed(lambda c=connector: c.search_components(ComponentQuery(), None, 200), rounds)
            print(f"  search 200 {department:<9} {label}: {summary(samples)}")
            await connector.aclose()


async def hot_reload(base: int, rounds: int) -> None:
    schema = f"yiwang_bench_{uuid.uuid4().hex[:10]}"
    key = Fernet.generate_key().decode()
    urls = {f"{name}_url": url(base, offset) for name, offset in
            {"water": 1, "transport": 2, "environment": 3, "housing": 4, "citymgmt": 5}.items()}
    token = mint_token("MUNICIPAL", "370800", ["platform_admin"])
    document = yaml.safe_load((SPECS / "gas.yaml").read_text(encoding="utf-8"))
    document["base_url"] = url(base, 6)
    query = {"query": "{ departments { id name } }"}
    try:
        async with AsyncExitStack() as stack:
            clients = []
            for _ in range(2):
                app = create_app(Settings(**urls, trust_demo_issuer=True, database_url=POSTGRES_URL,
                                          database_schema=schema, secret_key=key, connector_allowlist="127.0.0.1",
                                          registry_poll_s=30.0, cache_enabled=False, tracing=False))
                await stack.enter_async_context(app.router.lifespan_context(app))
                clients.append(await stack.enter_async_context(httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://gw",
                    headers={"authorization": f"Bearer {token}"})))
            first, second = clients
            delays = []
            for round_number in range(min(rounds, 10)):
                name = f"燃气 Gas r{round_number}"
                started = time.perf_counter()
                (await first.post("/admin/connectors", json={**document, "name": name})).raise_for_status()
                while name not in (await second.post("/graphql", json=query)).text:
                    await asyncio.sleep(0.005)
                delays.append((time.perf_counter() - started) * 1000)
            print(f"  hot reload A→B (PostgreSQL NOTIFY): {summary(delays)}")
    finally:
        with psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def run(base: int, rounds: int) -> None:
    print("declarative vs code connectors (yiwang mocks, scale 1.0)")
    await mapping(base)
    await searches(base, rounds)
    await hot_reload(base, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    base = free_base_port()
    mocks = subprocess.Popen([sys.executable, "-m", "gateway.cli", "mocks", "--base-port", str(base)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url(base, 6)}/openapi/v1/ping").raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        asyncio.run(run(base, args.rounds))
    finally:
        mocks.terminate()
        mocks.wait(10)


if __name__ == "__main__":
    main()
