"""Run the mock department systems as real HTTP servers: water on base+1, transport +2, environment +3, housing +4,
city management +5, and the gas company +6 (known to the gateway only through ``connectors/specs/gas.yaml``)."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from datetime import datetime

import uvicorn
from starlette.types import ASGIApp

from gateway.settings import DEFAULT_MOCK_BASE_PORT
from gateway.settings import DEPARTMENT_PORT_OFFSETS as SPINE_PORT_OFFSETS
from mocks.city import Inventory

DEFAULT_BASE_PORT = DEFAULT_MOCK_BASE_PORT
# The gateway's defaults point at the five spine departments; the gas company joins only through the registry.
DEPARTMENT_PORT_OFFSETS = {**SPINE_PORT_OFFSETS, "gas": 6}
DEPARTMENTS = tuple(DEPARTMENT_PORT_OFFSETS)


def create_mock_apps(inventory: Inventory, departments: Sequence[str] = DEPARTMENTS) -> dict[str, ASGIApp]:
    return {name: importlib.import_module(f"mocks.{name}").create_app(inventory) for name in departments}


def mock_servers(apps: dict[str, ASGIApp], *, host: str, base_port: int) -> list[uvicorn.Server]:
    return [
        uvicorn.Server(uvicorn.Config(app, host=host, port=base_port + DEPARTMENT_PORT_OFFSETS[name],
                                      log_level="warning", lifespan="off", access_log=False))
        for name, app in apps.items()
    ]


async def serve_mocks(*, host: str = "127.0.0.1", base_port: int = DEFAULT_BASE_PORT, scale: float = 1.0,
                      seed: int | None = None, anchor: datetime | None = None) -> None:
    inventory = Inventory(scale=scale, anchor=anchor, **({"seed": seed} if seed is not None else {}))
    servers = mock_servers(create_mock_apps(inventory), host=host, base_port=base_port)
    for name in DEPARTMENTS:
        print(f"mock {name:<12} http://{host}:{base_port + DEPARTMENT_PORT_OFFSETS[name]}", flush=True)
    print(f"{len(inventory)} components (scale {scale:g})", flush=True)
    await asyncio.gather(*(server.serve() for server in servers))
