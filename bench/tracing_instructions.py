"""What tracing costs in instructions and Python bytecodes: counts that do not follow the shared host's phase.

    .venv/bin/python -m bench.tracing_instructions             # callgrind, 24 requests per variant
    .venv/bin/python -m bench.tracing_instructions --bytecodes # sys.settrace opcode events, per function

The gateway runs in process (one app, driven through httpx's ``ASGITransport``; no uvicorn) against the mock
departments (real HTTP, outside valgrind), on scenario 2 with caching off, once per variant (``VARIANTS``: tracing
off; on with the SDK's tracer, every request sampled; on with the lean tracer; on with a tenth sampled; on with none
sampled). Under
``valgrind --tool=callgrind`` with instrumentation off until the app has answered 64 requests; ``callgrind_control``
switches it on around the measured requests, so start-up, imports and warm-up are not counted. The cyclic collector
is off during the measured requests: whether one of its collections falls inside the window moved a run by ±50 k
instructions a request. The result is instructions per request for each variant and what tracing adds;
``--bytecodes`` instead counts the bytecodes each function runs per request, on and off, and prints the functions
tracing adds most to. Both count the in-process client too (the same in both variants, but for the ``x-trace-id``
header and ``extensions.traceId`` it reads). Instructions are not time: on these machines the time tracing adds was
two to three times its share of instructions (docs/performance.md). Writes bench/results/tracing_instructions.json.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import uvloop

from bench import harness
from bench.scenarios import S2_YIWANG

# Tracing on: the OpenTelemetry SDK's tracer (the default) and the lean one (YIWANG_FAST_PATH_SPANS), every request
# sampled, and the SDK's tracer at a tenth sampled; each against tracing off.
VARIANTS = {"tracing off": {"YIWANG_TRACING": "false"},
            "tracing on": {"YIWANG_TRACING": "true", "YIWANG_TRACE_SAMPLE_RATIO": "1.0",
                           "YIWANG_FAST_PATH_SPANS": "false"},
            "tracing on, lean spans": {"YIWANG_TRACING": "true", "YIWANG_TRACE_SAMPLE_RATIO": "1.0",
                                       "YIWANG_FAST_PATH_SPANS": "true"},
            "tracing on, 10 % sampled": {"YIWANG_TRACING": "true", "YIWANG_TRACE_SAMPLE_RATIO": "0.1",
                                         "YIWANG_FAST_PATH_SPANS": "false"},
            # what every unsampled request costs (10 % sampled ≈ this + a tenth of "tracing on"'s, without the
            # binomial spread of a few dozen requests)
            "tracing on, nothing sampled": {"YIWANG_TRACING": "true", "YIWANG_TRACE_SAMPLE_RATIO": "0",
                                            "YIWANG_FAST_PATH_SPANS": "false"}}
WARMUP_REQUESTS = 64
CONCURRENCY = 8  # requests in flight, as wrk's connections would keep them
POLL_S = 0.05


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing_instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=24, help="measured requests per variant (a multiple of 8)")
    parser.add_argument("--bytecodes", action="store_true", help="count Python bytecodes per function instead")
    parser.add_argument("--variant", action="append", choices=[v for v in VARIANTS if v != "tracing off"],
                        help="measure only this variant (and tracing off); repeatable")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the variant to serve, in the measured process
    parser.add_argument("--base-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--signals", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _variant_env(workdir: Path, base_port: int, variant: str) -> dict[str, str]:
    # Under valgrind a department answer takes many times as long: no call may time out.
    env = harness.yiwang_settings_env(workdir, {"YIWANG_CACHE_ENABLED": "false", "YIWANG_UPSTREAM_TIMEOUT_S": "120",
                                                **VARIANTS[variant]})
    env.update({f"YIWANG_{department.upper()}_URL": harness.mock_url(base_port, department)
                for department in harness.DEPARTMENT_PORT_OFFSETS})
    return env


async def _serve_and_count(variant: str, base_port: int, requests: int, signals: Path | None,
                           bytecodes: bool) -> dict[str, int]:
    """In the measured process: build the app, warm it up, then answer ``requests`` requests (between the parent's
    signals, for callgrind) or count their bytecodes."""
    import httpx

    import connectors.http
    from gateway.app import create_app
    from gateway.gc_tuning import tune_garbage_collector
    from gateway.settings import Settings

    # Under valgrind on a shared host, opening a connection can take longer than the connectors' 2 s connect timeout.
    connectors.http.DEFAULT_CONNECT_TIMEOUT_S = 120.0
    os.environ.update(_variant_env(harness.new_workdir(), base_port, variant))
    app = create_app(Settings())
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=300))

        async def answer(count: int) -> None:
            for _ in range(count // CONCURRENCY):
                answers = await asyncio.gather(*(client.post("/graphql", json={"query": S2_YIWANG})
                                                 for _ in range(CONCURRENCY)))
                for response in answers:
                    if response.status_code != 200 or "errors" in response.json():
                        raise harness.BenchError(f"{variant}: {response.status_code} {response.text[-600:]}")

        await answer(WARMUP_REQUESTS - 16)
        tune_garbage_collector()  # as `yiwang serve` does once the app is built
        await answer(16)
        gc.collect()
        gc.disable()
        counts: collections.Counter[str] = collections.Counter()
        if bytecodes:
            sys.settrace(_opcode_counter(counts))
            await answer(requests)
            sys.settrace(None)
        else:
            assert signals is not None
            (signals / "ready").touch()
            _wait_for(signals / "go")
            await answer(requests)
            (signals / "done").touch()
            _wait_for(signals / "exit")
        gc.enable()
        return dict(counts)


def _opcode_counter(counts: collections.Counter[str]) -> Any:
    def on_call(frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        code = frame.f_code
        key = f"{code.co_filename.removeprefix(str(harness.REPO) + '/')}:{code.co_name}"

        def on_opcode(frame: Any, event: str, arg: Any) -> Any:
            if event == "opcode":
                counts[key] += 1
            return on_opcode
        return on_opcode
    return on_call


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(POLL_S)


def _callgrind(variant: str, base_port: int, requests: int) -> int:
    """Instructions of ``requests`` requests of ``variant``, counted by callgrind around them only."""
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    if valgrind is None or control is None:
        raise harness.BenchError("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="yiwang-callgrind-") as directory:
        signals = Path(directory)
        output = signals / "callgrind.out"
        command = [valgrind, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={output}",
                   sys.executable, "-m", "bench.tracing_instructions", "--child", variant,
                   "--base-port", str(base_port), "--signals", str(signals), "--requests", str(requests)]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        with (signals / "log").open("w") as log:
            process = subprocess.Popen(command, cwd=harness.REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while not (signals / "ready").exists():
                if process.poll() is not None:
                    raise harness.BenchError(f"{variant}: {(signals / 'log').read_text()[-2000:]}")
                time.sleep(POLL_S)
            subprocess.run([control, "--instr=on", str(process.pid)], check=True, capture_output=True)
            (signals / "go").touch()
            while not (signals / "done").exists():
                if process.poll() is not None:
                    raise harness.BenchError(f"{variant}: {(signals / 'log').read_text()[-2000:]}")
                time.sleep(POLL_S)
            subprocess.run([control, "--instr=off", str(process.pid)], check=True, capture_output=True)
            (signals / "exit").touch()
            if process.wait(timeout=600) != 0:
                raise harness.BenchError(f"{variant}: {(signals / 'log').read_text()[-2000:]}")
        finally:
            if process.poll() is None:
                process.kill()
        for line in output.read_text().splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise harness.BenchError(f"{variant}: callgrind wrote no totals")


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.requests % CONCURRENCY:
        raise SystemExit(f"--requests must be a multiple of {CONCURRENCY}")
    if args.child:
        counts = uvloop.run(_serve_and_count(args.child, args.base_port, args.requests,
                                              Path(args.signals) if args.signals else None, args.bytecodes))
        if args.bytecodes:
            print(json.dumps(counts))
        return 0
    workdir = harness.new_workdir()
    base_port = harness.free_base_port()
    report: dict[str, Any] = {"query": S2_YIWANG, "requests": args.requests,
                              "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with harness.running(harness.start_mocks(workdir, base_port=base_port, scale=1.0, cpus=None)):
        if args.bytecodes:
            per_variant = {}
            for variant in VARIANTS:
                child = subprocess.run([sys.executable, "-m", "bench.tracing_instructions", "--bytecodes",
                                        "--child", variant, "--base-port", str(base_port), "--requests",
                                        str(args.requests)], cwd=harness.REPO, capture_output=True, text=True,
                                       check=True)
                per_variant[variant] = collections.Counter(json.loads(child.stdout.splitlines()[-1]))
            off, on = per_variant["tracing off"], per_variant["tracing on"]
            totals = {variant: sum(counts.values()) / args.requests for variant, counts in per_variant.items()}
            added = sorted(((on[key] - off[key]) / args.requests, key) for key in on.keys() | off.keys())
            report.update({"bytecodes_per_request": totals, "added_by_function": dict(
                (key, count) for count, key in reversed(added) if count)})
            print(f"bytecodes per request: off {totals['tracing off']:,.0f}, on {totals['tracing on']:,.0f} "
                  f"(tracing adds {totals['tracing on'] - totals['tracing off']:,.0f})")
            for count, key in reversed(added[-25:]):
                print(f"{count:+9.1f}  {key}")
        else:
            variants = args.variant or list(VARIANTS)
            instructions = {variant: _callgrind(variant, base_port, args.requests) / args.requests
                            for variant in dict.fromkeys(["tracing off", *variants])}
            off = instructions["tracing off"]
            report.update({"instructions_per_request": instructions,
                           "added": {variant: on - off for variant, on in instructions.items()},
                           "ratio": {variant: on / off for variant, on in instructions.items()}})
            print(f"instructions per request: tracing off {off / 1e6:.3f} M")
            for variant, on in instructions.items():
                if variant != "tracing off":
                    print(f"  {variant}: {on / 1e6:.3f} M; tracing adds {(on - off) / 1e6:.3f} M "
                          f"({100 * (on / off - 1):.1f} %)")
    harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (harness.RESULTS_DIR / "tracing_instructions.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
