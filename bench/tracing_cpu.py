"""What tracing costs in CPU time, the variants of bench/tracing_instructions.py interleaved in one process.

    .venv/bin/python -m bench.tracing_cpu [--rounds 12] [--requests 48]

One process builds one app per variant (tracing off; on with the SDK's tracer; on with the lean tracer; on with a
tenth of new traces sampled) against the same mock departments (real HTTP, another process), warms each up, then
answers rounds of scenario 2 requests with each variant in turn (the order rotating each round), measuring the
process's CPU time (``time.process_time``: the gateway and the in-process client, not the mocks) around each batch.
Interleaving puts every variant through the same phases of a shared, noisy host; the median over rounds is
reported, per request and relative to tracing off. The fast paths' process-wide switches are set for each batch as
its app's settings say. Writes bench/results/tracing_cpu.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
from contextlib import AsyncExitStack
from typing import Any

import uvloop

from bench import harness
from bench.scenarios import S2_YIWANG
from bench.tracing_instructions import CONCURRENCY, VARIANTS, WARMUP_REQUESTS, _variant_env


def _settings(base_port: int, variant: str) -> Any:
    from gateway.settings import Settings

    saved = dict(os.environ)
    try:
        os.environ.update(_variant_env(harness.new_workdir(), base_port, variant))
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def _measure(base_port: int, rounds: int, requests: int) -> dict[str, list[float]]:
    import httpx

    from gateway.app import create_app
    from gateway.fastpaths import configure_fast_paths
    from gateway.gc_tuning import tune_garbage_collector

    per_request: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    async with AsyncExitStack() as stack:
        clients: dict[str, tuple[httpx.AsyncClient, Any]] = {}
        for variant in VARIANTS:
            settings = _settings(base_port, variant)
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=300))
            clients[variant] = (client, settings)

        async def answer(variant: str, count: int) -> None:
            client, settings = clients[variant]
            configure_fast_paths(settings)
            for _ in range(count // CONCURRENCY):
                answers = await asyncio.gather(*(client.post("/graphql", json={"query": S2_YIWANG})
                                                 for _ in range(CONCURRENCY)))
                for response in answers:
                    if response.status_code != 200 or "errors" in response.json():
                        raise harness.BenchError(f"{variant}: {response.status_code} {response.text[-600:]}")

        for variant in VARIANTS:
            await answer(variant, WARMUP_REQUESTS)
        tune_garbage_collector()
        order = list(VARIANTS)
        for index in range(rounds):
            for variant in order[index % len(order):] + order[:index % len(order)]:
                gc.collect()
                started = time.process_time()
                await answer(variant, requests)
                per_request[variant].append((time.process_time() - started) / requests)
    return per_request


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--requests", type=int, default=48, help="requests per batch (a multiple of 8)")
    args = parser.parse_args(argv)
    workdir = harness.new_workdir()
    base_port = harness.free_base_port()
    with harness.running(harness.start_mocks(workdir, base_port=base_port, scale=1.0, cpus=None)):
        per_request = uvloop.run(_measure(base_port, args.rounds, args.requests))
    medians = {variant: statistics.median(values) for variant, values in per_request.items()}
    # Each round's batch against the same round's tracing-off batch: the host's phase cancels out.
    paired = {variant: statistics.median(on / off for on, off in zip(values, per_request["tracing off"], strict=True))
              for variant, values in per_request.items()}
    print(f"CPU per request (median of {args.rounds} rounds of {args.requests}): "
          f"tracing off {medians['tracing off'] * 1e3:.3f} ms")
    for variant, value in medians.items():
        if variant != "tracing off":
            print(f"  {variant}: {value * 1e3:.3f} ms; tracing adds {100 * (paired[variant] - 1):+.1f} % "
                  "(median of the rounds' ratios to tracing off)")
    report = {"query": S2_YIWANG, "rounds": args.rounds, "requests": args.requests,
              "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu_ms_per_request": {
                  variant: [round(v * 1e3, 4) for v in values] for variant, values in per_request.items()},
              "median_ms": {variant: round(v * 1e3, 4) for variant, v in medians.items()},
              "median_ratio_to_off": {variant: round(v, 4) for variant, v in paired.items()}}
    harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (harness.RESULTS_DIR / "tracing_cpu.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
