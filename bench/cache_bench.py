"""Cached vs uncached yiwang on a typical dashboard query, side by side in one run (issue 5).

Two gateways against the same mock departments: one with caching off (``YIWANG_CACHE_ENABLED=false``), one with the
defaults (in-memory cache, response cache, the connectors' own TTLs). Rounds alternate between them; each round is
one wrk run per gateway. Reported: median over rounds of p50 and p99 latency and of throughput, and the ratio.

    .venv/bin/python -m bench.cache_bench [--rounds 3] [--seconds 10] [--connections 16] [--scale 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections.abc import Sequence
from pathlib import Path

from bench import harness

DASHBOARD = """{
  hydrants: components(filter: {regionCode: "370811", classCodes: ["0113"]}, first: 20) {
    totalCount nodes { id name status ... on Hydrant { pressureMpa readingAt } } }
  air: components(filter: {classCodes: ["0308"]}, first: 10) {
    nodes { id name regionCode ... on AirQualityStation { aqi aqiCategory pm25 readingAt } } }
  events(filter: {status: [DISPATCHED, IN_PROGRESS]}, first: 20) {
    totalCount nodes { id status deadline overdue eventClass { name } } }
}"""


def start_gateway(workdir: Path, name: str, *, base_port: int, port: int, cached: bool,
                  cpus: Sequence[int] | None) -> harness.Service:
    env = {key: value for key, value in os.environ.items() if not key.startswith("YIWANG_")}
    env.update(harness.yiwang_settings_env(workdir))
    env.update({"YIWANG_HOST": "127.0.0.1", "YIWANG_PORT": str(port),
                "YIWANG_CACHE_ENABLED": "true" if cached else "false"})
    env.update({f"YIWANG_{department.upper()}_URL": harness.mock_url(base_port, department)
                for department in harness.DEPARTMENT_PORT_OFFSETS})
    command = [*harness._taskset(cpus), str(harness.VENV_BIN / "yiwang"), "serve"]
    process, log_path = harness._spawn(name, command, cwd=harness.REPO, env=env, workdir=workdir)
    service = harness.Service(name, process, f"http://127.0.0.1:{port}/graphql", log_path)
    harness._wait_http(service, f"http://127.0.0.1:{port}/healthz")
    return service


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)

    wrk = harness.ensure_wrk()
    workdir = harness.new_workdir()
    cpus = harness.available_cpus()
    gateway_cpus, load_cpus = (cpus[:1], cpus[1:]) if len(cpus) > 1 else (None, None)
    base_port = harness.free_base_port()
    results: dict[str, list[harness.WrkResult]] = {"uncached": [], "cached": []}
    with harness.running(harness.start_mocks(workdir, base_port=base_port, scale=args.scale, cpus=load_cpus)):
        gateways = {name: start_gateway(workdir, name, base_port=base_port, port=harness.free_port(),
                                        cached=name == "cached", cpus=gateway_cpus) for name in results}
        with harness.running(gateways["uncached"]), harness.running(gateways["cached"]):
            answers = {name: harness.ask(service.url, DASHBOARD) for name, service in gateways.items()}
            for name, answer in answers.items():
                if (problem := answer.problem()) is not None:
                    raise harness.BenchError(f"{name}: {problem}")
            if answers["cached"].json["data"] != answers["uncached"].json["data"]:
                raise harness.BenchError("the cached gateway's answer differs from the uncached one")
            script = harness.wrk_script(workdir, "dashboard", DASHBOARD)
            for round_number in range(1, args.rounds + 1):
                for name, service in gateways.items():
                    result = harness.run_wrk(wrk, service.url, script, seconds=args.seconds,
                                             connections=args.connections, cpus=load_cpus)
                    if result.non_2xx or any(result.errors.values()):
                        raise harness.BenchError(f"{name}: {result.non_2xx} non-2xx, errors {result.errors}")
                    results[name].append(result)
                    harness.log(f"round {round_number} {name}: {result.rps:.0f} req/s, p50 {result.p50_ms:.2f} ms, "
                                f"p99 {result.p99_ms:.2f} ms")
    summary = {name: {"rps": statistics.median(r.rps for r in runs),
                      "p50_ms": statistics.median(r.p50_ms for r in runs),
                      "p99_ms": statistics.median(r.p99_ms for r in runs)} for name, runs in results.items()}
    summary["ratio"] = {"throughput": summary["cached"]["rps"] / summary["uncached"]["rps"],
                        "p50": summary["uncached"]["p50_ms"] / summary["cached"]["p50_ms"],
                        "p99": summary["uncached"]["p99_ms"] / summary["cached"]["p99_ms"]}
    harness.RESULTS_DIR.mkdir(exist_ok=True)
    (harness.RESULTS_DIR / "cache.json").write_text(json.dumps(summary, indent=2))
    print(f"{'':10} {'req/s':>10} {'p50 ms':>10} {'p99 ms':>10}")
    for name in ("uncached", "cached"):
        row = summary[name]
        print(f"{name:10} {row['rps']:>10.0f} {row['p50_ms']:>10.2f} {row['p99_ms']:>10.2f}")
    ratio = summary["ratio"]
    print(f"cached/uncached throughput x{ratio['throughput']:.1f}; latency p50 x{ratio['p50']:.1f} lower, "
          f"p99 x{ratio['p99']:.1f} lower")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
