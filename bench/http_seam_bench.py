"""CPU per department call on each bottom of the department client: what decides whether the lean GET path stays.

    .venv/bin/python -m bench.http_seam_bench [--calls 2000] [--rounds 7]
    .venv/bin/python -m bench.http_seam_bench --callgrind [--calls 200]   # instructions per call instead

Starts the mock departments (``yiwang mocks``, a process of their own: their CPU is not counted), then, in this
process on uvloop as ``yiwang serve`` runs, sends the same department calls through ``DepartmentClient`` with the lean
path on and off (``YIWANG_HTTP_TRANSPORT=lean|httpx``), the gateway's fetch hooks installed (tracing, no tracer
active: the untraced request's cost). Each round runs every variant once, in turn, so the host's drift hits all of
them; CPU is this process's ``time.process_time()`` over the calls, per call, median (and min) over the rounds.
Calls: a water page (GET, JSON), the environment ping (GET, XML) and the transport batch lookup (POST, JSON).
Writes bench/results/http_seam.json. ``--callgrind`` counts instructions instead (the host's noise does not move
them): each variant and call in a child under ``valgrind --tool=callgrind``, instrumentation switched on by
``callgrind_control`` around the measured calls only.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import uvloop

from connectors.client import DepartmentClient
from connectors.http import get_json, get_xml, post_json
from gateway.departments import fetch_hooks
from gateway.settings import DEPARTMENT_PORT_OFFSETS

RESULTS = Path(__file__).parent / "results" / "http_seam.json"  # (--callgrind: http_seam_instructions.json)
BASE_PORT = 19700
WATER_PARAMS = {"district_codes": "370811,370812", "type_codes": "0103", "page": 1, "size": 20}
Call = Callable[[DepartmentClient], Awaitable[Any]]


def calls(transport_ids: list[str]) -> dict[str, tuple[str, Call]]:
    return {
        "water GET (JSON page of 20)": ("water", lambda c: get_json(c, "water", "/api/v1/facilities",
                                                                   params=WATER_PARAMS)),
        "environment GET (XML)": ("environment", lambda c: get_xml(c, "environment",
                                                                   "/services/AirQuality.asmx/Ping")),
        "transport POST (batch of 5)": ("transport", lambda c: post_json(c, "transport", "/v2/assets:batchGet",
                                                                        {"assetIds": transport_ids})),
    }


def url(department: str) -> str:
    return f"http://127.0.0.1:{BASE_PORT + DEPARTMENT_PORT_OFFSETS[department]}"


async def cpu_per_call(client: DepartmentClient, call: Call, n: int) -> float:
    for _ in range(50):  # warm: connections open, caches filled
        await call(client)
    gc.collect()
    gc.disable()
    started = time.process_time()
    for _ in range(n):
        await call(client)
    spent = time.process_time() - started
    gc.enable()
    return spent / n * 1e6


async def main(n: int, rounds: int) -> dict[str, Any]:
    transport_ids = [row["assetId"] for row in httpx.get(f"{url('transport')}/v2/assets",
                                                         params={"limit": 5}).json()["items"]]
    hooks = fetch_hooks(())
    results: dict[str, dict[str, list[float]]] = {}
    for _ in range(rounds):
        for name, (department, call) in calls(transport_ids).items():
            for variant in VARIANTS:
                client = DepartmentClient(url(department), department=department, lean=variant == "lean",
                                          hooks=hooks)
                try:
                    spent = await cpu_per_call(client, call, n)
                finally:
                    await client.aclose()
                results.setdefault(name, {}).setdefault(variant, []).append(spent)
    return {name: {variant: {"median_us": round(statistics.median(values), 1), "min_us": round(min(values), 1)}
                   for variant, values in variants.items()} for name, variants in results.items()}


VARIANTS = ("lean", "httpx")
POLL_S = 0.05


async def child(variant: str, name: str, n: int, signals: Path) -> None:
    """Under callgrind: warm up, then run ``n`` calls between the parent's ``go`` and our ``done``."""
    transport_ids = [row["assetId"] for row in httpx.get(f"{url('transport')}/v2/assets",
                                                         params={"limit": 5}).json()["items"]]
    department, call = calls(transport_ids)[name]
    client = DepartmentClient(url(department), department=department, lean=variant == "lean",
                              hooks=fetch_hooks(()))
    for _ in range(50):
        await call(client)
    (signals / "ready").touch()
    while not (signals / "go").exists():
        await asyncio.sleep(POLL_S)
    gc.disable()
    for _ in range(n):
        await call(client)
    (signals / "done").touch()
    while not (signals / "exit").exists():
        await asyncio.sleep(POLL_S)
    await client.aclose()


def instructions(variant: str, name: str, n: int) -> float:
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    assert valgrind and control, "valgrind is not installed"
    with tempfile.TemporaryDirectory(prefix="yiwang-seam-") as directory:
        signals = Path(directory)
        output = signals / "callgrind.out"
        process = subprocess.Popen([valgrind, "--tool=callgrind", "--instr-atstart=no",
                                    f"--callgrind-out-file={output}", sys.executable, "-m", "bench.http_seam_bench",
                                    "--child", variant, "--call", name, "--calls", str(n), "--signals", directory],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for step, then in (("ready", "--instr=on"), ("done", "--instr=off")):
                while not (signals / step).exists():
                    assert process.poll() is None, f"{variant} {name}: the child ended"
                    time.sleep(POLL_S)
                subprocess.run([control, then, str(process.pid)], check=True, capture_output=True)
                (signals / ("go" if step == "ready" else "exit")).touch()
            process.wait(timeout=600)
        finally:
            if process.poll() is None:
                process.kill()
        totals = next(line for line in output.read_text().splitlines() if line.startswith("totals:"))
        return int(totals.split()[1]) / n


def run() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--call")
    parser.add_argument("--signals")
    options = parser.parse_args()
    if options.child:
        uvloop.run(child(options.child, options.call, options.calls, Path(options.signals)))
        return
    mocks = subprocess.Popen([sys.executable, "-m", "gateway.cli", "mocks", "--base-port", str(BASE_PORT)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url('water')}/api/v1/health", timeout=1)
                httpx.get(f"{url('transport')}/v2/status", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        if options.callgrind:
            figures = {name: {variant: {"instructions": round(instructions(variant, name, options.calls))}
                              for variant in VARIANTS} for name in calls([])}
        else:
            figures = uvloop.run(main(options.calls, options.rounds))
    finally:
        mocks.terminate()
        mocks.wait(10)
    results = RESULTS.with_name("http_seam_instructions.json") if options.callgrind else RESULTS
    results.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    for name, variants in figures.items():
        print(f"{name:32} " + "  ".join(f"{variant}: {v}" for variant, v in variants.items()))


if __name__ == "__main__":
    run()
