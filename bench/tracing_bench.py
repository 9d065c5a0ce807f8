"""What tracing costs: the same gateway with tracing on (every request sampled, spans into the trace store) and off,
side by side in one run, on a typical query (scenario 2: three departments, 20 components each, with totals).

    .venv/bin/python -m bench.tracing_bench                 # 30 rounds of 2 s per variant, pinned like bench.run
    .venv/bin/python -m bench.tracing_bench --together --rounds 11 --seconds 5

Both gateways run at once against the same mock departments, caching off. By default each round measures them one
after the other, each alone on the gateway core (the order alternating per round), in many short rounds: the ratio
of a round moves by ±0.15 on this machine as the shared host's phase drifts, so the result is the median of the
per-round ratios of wrk throughput. ``--together`` loads both *at the same time*, pinned to the same core, one wrk
each: the host's phase then falls on both alike and a round's ratio moves much less, but the two processes evict
each other's caches at every switch, which weighs more on tracing's freshly allocated objects than on the rest; on a
core both saturate, throughput at equal CPU is the inverse of the CPU time per request, so that mode takes the cost
as ``1 - cpu_off / cpu_on``. Each gateway's CPU time per request is read from /proc either way. The result is the
median per variant, the ratio on/off and what tracing adds to the CPU time of a request (on minus off, per round and
the median of those); the goals are a throughput cost under 10 % and at most ~0.3 ms of CPU per request. Writes
bench/results/tracing.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any
from unittest.mock import patch

from bench import harness
from bench.scenarios import S2_YIWANG

VARIANTS = {  # tracing on at the given --sample-ratio (default: every request), with the SDK's tracer unless --lean
    "tracing on": {"YIWANG_TRACING": "true", "YIWANG_TRACE_SAMPLE_RATIO": "1.0", "YIWANG_CACHE_ENABLED": "false"},
    "tracing off": {"YIWANG_TRACING": "false", "YIWANG_CACHE_ENABLED": "false"},
}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--sample-ratio", default="1.0", help="YIWANG_TRACE_SAMPLE_RATIO of tracing on (production "
                        "default: 0.1)")
    parser.add_argument("--lean", action="store_true", help="tracing on with the lean tracer (YIWANG_FAST_PATH_SPANS)")
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per variant and round")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of load before each measurement")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--scale", type=float, default=1.0, help="mock data size")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the gateways to core 0 and the rest to 1")
    parser.add_argument("--together", action="store_true",
                        help="load both variants at the same time on the same core, instead of one after the other")
    return parser.parse_args(argv)


def measure(services: list[harness.Service], wrk: str, script: Any, args: argparse.Namespace,
            load_cpus: list[int] | None) -> list[dict[str, float]]:
    """Load the services at the same time (one wrk each), warm-up first; a reading per service."""
    def load(service: harness.Service, seconds: float) -> harness.WrkResult:
        return harness.run_wrk(wrk, service.url, script, seconds=seconds, connections=args.connections,
                               cpus=load_cpus)

    with ThreadPoolExecutor(len(services)) as pool:
        list(pool.map(lambda service: load(service, args.warmup), services))
        cpu_before = [harness.cpu_seconds(service.pid) for service in services]
        results = list(pool.map(lambda service: load(service, args.seconds), services))
        cpu = [harness.cpu_seconds(service.pid) - before for service, before in zip(services, cpu_before, strict=True)]
    readings = []
    for service, result, seconds in zip(services, results, cpu, strict=True):
        if result.non_2xx or any(result.errors.values()):
            raise harness.BenchError(f"{service.name}: {result.non_2xx} non-2xx answers, errors {result.errors}")
        readings.append({"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms,
                         "cpu_ms_per_request": 1000 * seconds / result.requests if result.requests else float("nan")})
    return readings


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    VARIANTS["tracing on"].update({"YIWANG_TRACE_SAMPLE_RATIO": args.sample_ratio,
                                   "YIWANG_FAST_PATH_SPANS": "true" if args.lean else "false"})
    wrk = harness.ensure_wrk()
    cpus = harness.available_cpus()
    pinned = not args.no_pin and len(cpus) >= 2
    gateway_cpus, load_cpus = ([cpus[0]], cpus[1:]) if pinned else (None, None)
    workdir = harness.new_workdir()
    base_port = harness.free_base_port()
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    with ExitStack() as stack:
        mocks = stack.enter_context(harness.running(harness.start_mocks(
            workdir, base_port=base_port, scale=args.scale, cpus=load_cpus)))
        services: dict[str, harness.Service] = {}
        for name, env in VARIANTS.items():
            with patch.dict(harness.YIWANG_EXTRA_ENV, env):
                service = harness.start_yiwang(workdir, base_port=base_port, port=harness.free_port(),
                                               cpus=gateway_cpus)
            service.name = f"yiwang ({name})"
            services[name] = stack.enter_context(harness.running(service))
            problem = harness.ask(service.url, S2_YIWANG).problem()
            if problem:
                raise harness.BenchError(f"{service.name} does not answer the query: {problem}")
        traced = harness.ask(services["tracing on"].url, S2_YIWANG).json
        untraced = harness.ask(services["tracing off"].url, S2_YIWANG).json
        if "traceId" not in traced.get("extensions", {}) or "extensions" in untraced:
            raise harness.BenchError("the variants are not what they claim: tracing on must return a traceId")
        script = harness.wrk_script(workdir, "tracing", S2_YIWANG)
        harness.log(f"mocks pid {mocks.pid}; {args.rounds} rounds of {args.seconds:g} s, -c{args.connections}, "
                    f"{'pinned' if pinned else 'unpinned'}, {'at once' if args.together else 'one after the other'}")
        for number in range(args.rounds):
            order = list(VARIANTS) if number % 2 == 0 else list(reversed(VARIANTS))
            groups = [order] if args.together else [[name] for name in order]
            for group in groups:
                for name, reading in zip(group, measure([services[name] for name in group], wrk, script, args,
                                                        load_cpus), strict=True):
                    rounds[name].append(reading)
                    harness.log(f"round {number + 1} {name}: {reading['rps']:.0f} req/s, "
                                f"p50 {reading['p50_ms']:.1f} ms, {reading['cpu_ms_per_request']:.3f} ms CPU/request")
    medians = {name: {key: statistics.median(r[key] for r in readings) for key in readings[0]}
               for name, readings in rounds.items()}
    on, off = medians["tracing on"], medians["tracing off"]
    pairs = list(zip(rounds["tracing on"], rounds["tracing off"], strict=True))
    if args.together:  # sharing the core: throughput at equal CPU
        per_round = [b["cpu_ms_per_request"] / a["cpu_ms_per_request"] for a, b in pairs]
    else:  # each alone on the core: what wrk measured
        per_round = [a["rps"] / b["rps"] for a, b in pairs]
    ratio = statistics.median(per_round)
    added_cpu = [a["cpu_ms_per_request"] - b["cpu_ms_per_request"] for a, b in pairs]
    report = {"query": S2_YIWANG, "method": "at once" if args.together else "alternate", "rounds": rounds,
              "medians": medians, "throughput_ratio_on_off": ratio,
              "throughput_cost": 1 - ratio, "per_round_ratios": per_round,
              "cpu_ratio_on_off": on["cpu_ms_per_request"] / off["cpu_ms_per_request"],
              "added_cpu_ms_per_request": statistics.median(added_cpu), "per_round_added_cpu_ms": added_cpu,
              "settings": vars(args), "pinned": pinned, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (harness.RESULTS_DIR / "tracing.json").write_text(json.dumps(report, indent=2))
    print(f"{'variant':<12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11}")
    for name, values in medians.items():
        print(f"{name:<12} {values['rps']:>8.0f} {values['p50_ms']:>8.2f} {values['p99_ms']:>8.2f} "
              f"{values['cpu_ms_per_request']:>11.3f}")
    print(f"throughput on/off ({report['method']}, median of rounds): {ratio:.3f} "
          f"(cost {100 * (1 - ratio):.1f} %; per round "
          f"{', '.join(f'{r:.3f}' for r in per_round)}); CPU per request on/off: {report['cpu_ratio_on_off']:.3f}")
    print(f"CPU tracing adds per request: {report['added_cpu_ms_per_request']:.3f} ms (median of rounds; per round "
          f"{', '.join(f'{a:.3f}' for a in added_cpu)})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except harness.BenchError as error:
        print(f"bench.tracing_bench: {error}", file=sys.stderr)
        sys.exit(1)
