"""Benchmark yiwang side by side with Hive Gateway (GraphQL Mesh over the departments' OpenAPI documents).

    python -m bench.run --quick        # make bench-quick: under 3 minutes, writes bench/results/quick.json
    python -m bench.run                # make bench: the full run, writes bench/results/full.json
    python -m bench.run --check        # start everything, check both answers match, print byte counts; no load
    python -m bench.run --compare REF  # make bench-compare REF=...: this tree's yiwang against REF's (bench/compare.py)

One run: install the peer (npm ci) and wrk if missing; start the mock departments pinned to the second core;
compose the peer's supergraph; check that both gateways answer every scenario with the same content and print the
response sizes; then, round by round, start both gateways (pinned to the first core in the pinned variant,
unpinned in the unpinned variant), and measure each scenario on one gateway and at once on the other (the order
alternates per round): warm it up, measure it with wrk, read CPU time and peak RSS from /proc. Medians over the
rounds go to bench/results/<name>.json and a markdown table (bench/results/<name>.md, also printed). Only ratios
from the same run mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import BenchError, Service, log
from bench.scenarios import SCENARIOS, Scenario, compare

GATEWAYS = ("yiwang", "peer")
METRICS = ("rps", "p50_ms", "p95_ms", "p99_ms", "cpu_ms_per_req", "peak_rss_mb", "mock_cpu_ms_per_req")
CHINA_TZ = timezone(timedelta(hours=8))
MAX_RESTARTS = 2
NOISY_MACHINE_CORES = 0.3


@dataclass(frozen=True)
class Profile:
    name: str
    pinned_rounds: int
    unpinned_rounds: int
    seconds: int
    warmup_seconds: int
    wait_quiet_seconds: int  # before each scenario, wait up to this long for other processes to calm down
    slow_seconds: int | None = None  # caps a slow scenario's longer window (Scenario.min_seconds); None: no cap


PROFILES = {
    # under 3 minutes from a clean clone, the installs (venv, peer, wrk) included
    "quick": Profile("quick", pinned_rounds=2, unpinned_rounds=0, seconds=2, warmup_seconds=1, wait_quiet_seconds=0,
                     slow_seconds=2),
    "full": Profile("full", pinned_rounds=3, unpinned_rounds=2, seconds=8, warmup_seconds=3, wait_quiet_seconds=30),
}
DEFAULT_SCALE = 4.0  # ≈ 97,000 components and 24,000 cases: the size of a real 2-district deployment


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter runs (make bench-quick)")
    parser.add_argument("--check", action="store_true", help="only start everything and compare the answers")
    parser.add_argument("--name", help="results name (default: quick or full)")
    parser.add_argument("--scale", type=float, default=DEFAULT_SCALE, help="mock data size (yiwang mocks --scale)")
    parser.add_argument("--rounds", type=int, help="pinned rounds (default: 2 quick, 3 full)")
    parser.add_argument("--unpinned-rounds", type=int, help="unpinned rounds (default: 0 quick, 2 full)")
    parser.add_argument("--seconds", type=int, help="measured seconds per scenario and gateway")
    parser.add_argument("--warmup", type=int, help="warm-up seconds per scenario and gateway")
    parser.add_argument("--wait-quiet", type=int, metavar="SECONDS",
                        help="before each scenario, wait up to this long for other processes to use less "
                             f"than {NOISY_MACHINE_CORES} core (default: 0 quick, 30 full)")
    parser.add_argument("--scenarios", help="comma-separated scenario keys or numbers (default: all)")
    parser.add_argument("--yiwang-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra yiwang setting, e.g. TRACING=false (YIWANG_ prefix optional; repeatable)")
    compare = parser.add_argument_group("yiwang against an older commit (bench/compare.py; no peer)")
    compare.add_argument("--compare", metavar="GIT_REF",
                         help="measure this tree's gateway against GIT_REF's, side by side in one run "
                              "(--quick: 4 rounds of 2 s; default 6 rounds of 5 s; --rounds, --seconds apply)")
    compare.add_argument("--no-tracing-line", action="store_true",
                         help="with --compare: skip the line that measures tracing on against off")
    compare.add_argument("--results-dir", help="with --compare: where to write <name>.json and .md "
                                               "(default bench/results)")
    return parser


def _select(spec: str | None) -> list[Scenario]:
    if not spec:
        return list(SCENARIOS)
    wanted = [item.strip() for item in spec.split(",") if item.strip()]
    chosen = [s for s in SCENARIOS if s.key in wanted or s.key.split("_")[0].lstrip("s") in wanted]
    if not chosen:
        raise BenchError(f"no scenario matches {spec!r}; known: {[s.key for s in SCENARIOS]}")
    return chosen


# --- checks ------------------------------------------------------------------------------------------------------
def check_answers(scenarios: Sequence[Scenario], services: dict[str, Service],
                  reference: dict[str, dict[str, Any]] | None = None, *,
                  tokens: harness.TokenPool | None = None) -> dict[str, dict[str, Any]]:
    """Ask every scenario once on both gateways; fail unless both answer with the same content. Returns the byte
    counts; the answers' data go to ``reference``. Scenarios with tokens are asked with one from ``tokens``, and
    yiwang must refuse a forged one (so the process measured really verifies every token)."""
    report: dict[str, dict[str, Any]] = {}
    for scenario in scenarios:
        if scenario.skip_reason:
            continue
        if scenario.tokens:
            if tokens is None:
                raise BenchError(f"{scenario.key} needs a token pool (harness.mint_tokens)")
            _check_refuses_forged_token(scenario, services["yiwang"], tokens)
        answers = {name: harness.ask(services[name].url, _query(scenario, name), headers=_headers(scenario, tokens))
                   for name in GATEWAYS}
        for name, answer in answers.items():
            problem = answer.problem()
            if problem:
                raise BenchError(f"{scenario.key}: {name} did not answer properly: {problem}\n"
                                 f"{services[name].log_tail(15)}")
        difference = compare(scenario, answers["yiwang"].json["data"], answers["peer"].json["data"])
        if difference:
            raise BenchError(f"{scenario.key}: the gateways answer different content, so their speed is not "
                             f"comparable: {difference}")
        if reference is not None:
            reference[scenario.key] = {name: answers[name].json["data"] for name in GATEWAYS}
        report[scenario.key] = {f"{name}_bytes": len(answers[name].body) for name in GATEWAYS}
        report[scenario.key]["bytes_ratio"] = round(len(answers["yiwang"].body) / len(answers["peer"].body), 3)
        report[scenario.key]["content_match"] = True
    return report


def _check_refuses_forged_token(scenario: Scenario, yiwang: Service, tokens: harness.TokenPool) -> None:
    forged = harness.forged(tokens.headers()["authorization"].removeprefix("Bearer "))
    answer = harness.ask(yiwang.url, scenario.yiwang_query, headers={"authorization": f"Bearer {forged}"})
    if answer.status != 401:
        raise BenchError(f"{scenario.key}: yiwang answered a token with a broken signature with HTTP {answer.status} "
                         f"instead of 401, so it does not verify tokens with these settings: {answer.body[:300]!r}")


def _query(scenario: Scenario, gateway: str) -> str:
    return scenario.yiwang_query if gateway == "yiwang" else scenario.peer_query


def _headers(scenario: Scenario, tokens: harness.TokenPool | None) -> dict[str, str] | None:
    return tokens.headers() if scenario.tokens and tokens is not None else None


def _settings(scenario: Scenario, gateway: str) -> dict[str, str]:
    """The gateway's own settings for a scenario: a yiwang process runs one set; the peer has none to vary."""
    return dict(scenario.yiwang_env) if gateway == "yiwang" else {}


def settings_groups(scenarios: Sequence[Scenario]) -> list[tuple[dict[str, str], list[Scenario]]]:
    """Consecutive scenarios with the same yiwang settings, in order: one yiwang process each."""
    groups: list[tuple[dict[str, str], list[Scenario]]] = []
    for scenario in scenarios:
        if groups and groups[-1][0] == scenario.yiwang_env:
            groups[-1][1].append(scenario)
        else:
            groups.append((dict(scenario.yiwang_env), [scenario]))
    return groups


def check_all(ctx: Context, scenarios: Sequence[Scenario]) -> dict[str, dict[str, Any]]:
    """check_answers with one peer and, per group of scenarios with the same settings, one yiwang."""
    report: dict[str, dict[str, Any]] = {}
    with harness.running(start_gateway(ctx, "peer", pinned=False)) as peer:
        for settings, group in settings_groups([s for s in scenarios if not s.skip_reason]):
            with harness.running(start_gateway(ctx, "yiwang", pinned=False, settings=settings)) as yiwang:
                report.update(check_answers(group, {"yiwang": yiwang, "peer": peer}, ctx.reference,
                                            tokens=ctx.tokens))
    return report


def print_bytes(report: dict[str, dict[str, Any]]) -> None:
    print("\nResponse bodies (same content checked field by field):", flush=True)
    print(f"  {'scenario':<26} {'yiwang bytes':>13} {'peer bytes':>11} {'yiwang/peer':>12}")
    for key, row in report.items():
        print(f"  {key:<26} {row['yiwang_bytes']:>13,} {row['peer_bytes']:>11,} {row['bytes_ratio']:>12.3f}")
    print(flush=True)


# --- measuring -----------------------------------------------------------------------------------------------
@dataclass
class Context:
    workdir: Path
    base_port: int
    supergraph: Path
    wrk: str
    mocks: Service
    gateway_cpus: list[int] | None
    side_cpus: list[int] | None
    all_cpus: list[int]
    expected_bytes: dict[str, dict[str, Any]]
    reference: dict[str, dict[str, Any]] = field(default_factory=dict)  # scenario -> gateway -> data of the check
    tokens: harness.TokenPool | None = None  # for scenarios with a distinct Authorization per request


def start_gateway(ctx: Context, name: str, pinned: bool, settings: dict[str, str] | None = None) -> Service:
    cpus = ctx.gateway_cpus if pinned else None
    port = harness.free_port()
    if name == "yiwang":
        return harness.start_yiwang(ctx.workdir, base_port=ctx.base_port, port=port, cpus=cpus, settings=settings)
    return harness.start_peer(ctx.workdir, supergraph=ctx.supergraph, base_port=ctx.base_port, port=port, cpus=cpus)


def measure(ctx: Context, service: Service, scenario: Scenario, *, pinned: bool, seconds: int,
            warmup: int, slow_seconds: int | None = None) -> dict[str, Any]:
    tokens = ctx.tokens if scenario.tokens else None
    if scenario.tokens and tokens is None:
        raise BenchError(f"{scenario.key} needs a token pool")
    window = scenario.min_seconds if slow_seconds is None else min(scenario.min_seconds, slow_seconds)
    load = harness.Load(ctx.wrk, ctx.workdir, f"{scenario.key}-{service.name}", _query(scenario, service.name),
                        scenario.connections, max(seconds, window), warmup, ctx.side_cpus if pinned else None,
                        ctx.mocks.pid, tokens)
    row, after = harness.measure_service(service, load)
    problems = row["problems"]
    problem = after.problem()
    if problem:
        problems.append(f"answer after the run: {problem}")
    else:
        # The same content as in the check before the rounds (ids such as a trace id may differ, so not the bytes).
        data = after.json["data"]
        yiwang_data = data if service.name == "yiwang" else ctx.reference[scenario.key]["yiwang"]
        peer_data = data if service.name == "peer" else ctx.reference[scenario.key]["peer"]
        difference = compare(scenario, yiwang_data, peer_data)
        if difference:
            problems.append(f"answer after the run differs: {difference}")
    harness.log_reading(scenario.key, service.name, row)
    return row


class _Gateway:
    """One gateway process of a round, started again (once or twice) if something else stops it."""

    def __init__(self, ctx: Context, name: str, pinned: bool, settings: dict[str, str]) -> None:
        self.ctx, self.name, self.pinned, self.settings = ctx, name, pinned, settings
        self.service = start_gateway(ctx, name, pinned, settings)
        self.restarts = 0

    def measure(self, scenario: Scenario, profile: Profile) -> dict[str, Any]:
        while True:
            try:
                return measure(self.ctx, self.service, scenario, pinned=self.pinned, seconds=profile.seconds,
                               warmup=profile.warmup_seconds, slow_seconds=profile.slow_seconds)
            except (BenchError, OSError) as exc:
                # On a shared machine another session may stop our processes; start again, once or twice,
                # rather than lose the run.
                code = self.service.process.poll()
                if code is None or self.restarts >= MAX_RESTARTS:
                    raise
                self.restarts += 1
                log(f"{self.name} exited with {code} during {scenario.key} (not stopped by the harness: "
                    f"{exc!s:.120}); starting it again")
                self.service = start_gateway(self.ctx, self.name, self.pinned, self.settings)

    def stop(self) -> None:
        self.service.stop()


def run_rounds(ctx: Context, scenarios: Sequence[Scenario], profile: Profile) -> dict[str, Any]:
    """Each round starts both gateways (on the same core when pinned) and measures every scenario on one, then at
    once on the other: the machine's drift (on these shared machines the same code's CPU per request moves by a
    third within minutes) then hits both sides of a ratio alike. Only the gateway under load uses the core; the
    other waits idle (what it uses anyway counts as other processes' CPU, the noise line)."""
    plan = [("pinned", r) for r in range(profile.pinned_rounds)] + \
           [("unpinned", r) for r in range(profile.unpinned_rounds)]
    rounds: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {}
    measured = [s for s in scenarios if not s.skip_reason]
    for index, (variant, number) in enumerate(plan):
        pinned = variant == "pinned" and ctx.gateway_cpus is not None
        harness.set_affinity(ctx.mocks.pid, ctx.side_cpus if pinned and ctx.side_cpus else ctx.all_cpus)
        order = GATEWAYS if index % 2 == 0 else tuple(reversed(GATEWAYS))
        log(f"round {index + 1}/{len(plan)} ({variant} #{number + 1}): each scenario on {' then '.join(order)}")
        gateways: dict[str, _Gateway] = {}
        try:
            for scenario in measured:
                if profile.wait_quiet_seconds:
                    _wait_quiet(ctx, profile.wait_quiet_seconds)
                for name in order:
                    settings = _settings(scenario, name)
                    gateway = gateways.get(name)
                    if gateway is not None and gateway.settings != settings:  # a process of the scenario's settings
                        gateway.stop()
                        gateway = None
                    if gateway is None:
                        gateway = gateways[name] = _Gateway(ctx, name, pinned, settings)
                    row = gateway.measure(scenario, profile)
                    row["round"], row["order"], row["restarts"] = index + 1, order.index(name) + 1, gateway.restarts
                    rounds.setdefault(variant, {}).setdefault(scenario.key, {}).setdefault(name, []).append(row)
        finally:
            for gateway in gateways.values():
                gateway.stop()
    harness.set_affinity(ctx.mocks.pid, ctx.side_cpus or ctx.all_cpus)
    return rounds


def _median(rows: list[dict[str, Any]], metric: str) -> float | None:
    values = [row[metric] for row in rows if row[metric] is not None]
    return round(statistics.median(values), 3) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def summarise(rounds: dict[str, Any], scenarios: Sequence[Scenario],
              expected_bytes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    variants: dict[str, Any] = {}
    for variant, by_scenario in rounds.items():
        out: dict[str, Any] = {}
        for scenario in scenarios:
            if scenario.skip_reason:
                out[scenario.key] = {"skipped": scenario.skip_reason}
                continue
            rows = by_scenario[scenario.key]
            medians = {name: {metric: _median(rows[name], metric) for metric in METRICS} for name in GATEWAYS}
            ratio = {metric: _ratio(medians["yiwang"][metric], medians["peer"][metric]) for metric in METRICS}
            noise = [row.get("other_processes_core_use", 0.0) for name in GATEWAYS for row in rows[name]]
            out[scenario.key] = {
                "title": scenario.title,
                "other_processes_core_use": {"median": round(statistics.median(noise), 3),
                                             "max": round(max(noise), 3)},
                "yiwang": {**medians["yiwang"], "bytes": expected_bytes[scenario.key]["yiwang_bytes"],
                           "rounds": rows["yiwang"]},
                "peer": {**medians["peer"], "bytes": expected_bytes[scenario.key]["peer_bytes"],
                         "rounds": rows["peer"]},
                "ratio_yiwang_over_peer": ratio,
                "per_round_rps_ratios": [_ratio(a["rps"], b["rps"])
                                         for a, b in zip(rows["yiwang"], rows["peer"], strict=False)],
                "problems": [p for name in GATEWAYS for row in rows[name] for p in row["problems"]],
            }
        variants[variant] = out
    return variants


def headline(variants: dict[str, Any], scenarios: Sequence[Scenario]) -> dict[str, Any]:
    """Per scenario: yiwang_rps, peer_rps, ratio, yiwang_p99_ms, peer_p99_ms (of the pinned variant if run)."""
    variant = "pinned" if "pinned" in variants else next(iter(variants), None)
    out: dict[str, Any] = {}
    for scenario in scenarios:
        if scenario.skip_reason or variant is None:
            out[scenario.key] = {"skipped": scenario.skip_reason or "not measured"}
            continue
        data = variants[variant][scenario.key]
        out[scenario.key] = {
            "yiwang_rps": data["yiwang"]["rps"], "peer_rps": data["peer"]["rps"],
            "ratio": data["ratio_yiwang_over_peer"]["rps"],
            "yiwang_p99_ms": data["yiwang"]["p99_ms"], "peer_p99_ms": data["peer"]["p99_ms"],
            "yiwang_cpu_ms_per_req": data["yiwang"]["cpu_ms_per_req"],
            "peer_cpu_ms_per_req": data["peer"]["cpu_ms_per_req"],
            "yiwang_peak_rss_mb": data["yiwang"]["peak_rss_mb"], "peer_peak_rss_mb": data["peer"]["peak_rss_mb"],
            "variant": variant,
        }
    return out


# --- reporting ---------------------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(result: dict[str, Any], scenarios: Sequence[Scenario]) -> str:
    lines = [f"# yiwang vs Hive Gateway — {result['name']} run, {result['date']}", "",
             f"Machine: {result['machine']['cpu']} ({result['machine']['cpus']} CPUs), {result['machine']['kernel']}; "
             f"Python {result['machine']['python']}, Node {result['machine']['node']}, peer "
             f"@graphql-hive/gateway {result['machine']['hive_gateway']}; mocks --scale {result['config']['scale']:g}; "
             f"{result['config']['seconds']} s per measurement after {result['config']['warmup_seconds']} s warm-up; "
             "medians over rounds.", "",
             "yiwang settings: " + (", ".join(f"{k}={v}" for k, v in result["config"]["yiwang_settings"].items())
                                    or "defaults") + "; git " + result["machine"]["git_commit"]
             + (" with uncommitted changes" if result["machine"]["git_uncommitted_changes"] else "") + ".", ""]
    for variant, data in result["variants"].items():
        rounds = result["config"][f"{variant}_rounds"]
        where = ("each gateway on core 0, loaded one at a time; mocks and wrk on core 1" if variant == "pinned"
                 else "no pinning (gateway, mocks and wrk share all cores)")
        lines += [f"## {variant} ({rounds} round{'s' if rounds != 1 else ''}; {where})", "",
                  "| Scenario | Gateway | RPS | p50 ms | p95 ms | p99 ms | CPU ms/req | Peak RSS MB | "
                  "Mock CPU ms/req | Bytes |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for scenario in scenarios:
            row = data.get(scenario.key)
            if row is None:
                continue
            if "skipped" in row:
                lines.append(f"| {scenario.title} | — | skipped: {row['skipped']} | | | | | | | |")
                continue
            for name in GATEWAYS:
                g = row[name]
                lines.append(f"| {scenario.title} | {name} | {_fmt(g['rps'])} | {_fmt(g['p50_ms'])} | "
                             f"{_fmt(g['p95_ms'])} | {_fmt(g['p99_ms'])} | {_fmt(g['cpu_ms_per_req'], 2)} | "
                             f"{_fmt(g['peak_rss_mb'])} | {_fmt(g['mock_cpu_ms_per_req'], 2)} | {g['bytes']:,} |")
            r = row["ratio_yiwang_over_peer"]
            lines.append(f"| {scenario.title} | **yiwang/peer** | **{_fmt(r['rps'], 2)}×** | {_fmt(r['p50_ms'], 2)}× | "
                         f"{_fmt(r['p95_ms'], 2)}× | {_fmt(r['p99_ms'], 2)}× | {_fmt(r['cpu_ms_per_req'], 2)}× | "
                         f"{_fmt(r['peak_rss_mb'], 2)}× | {_fmt(r['mock_cpu_ms_per_req'], 2)}× | "
                         f"{row['yiwang']['bytes'] / row['peer']['bytes']:.2f}× |")
        noise = [row["other_processes_core_use"] for row in data.values() if "other_processes_core_use" in row]
        if noise:
            lines += ["", f"Noise: other processes on the machine used a median of "
                          f"{statistics.median(n['median'] for n in noise):.2f} core during the measurements "
                          f"(at most {max(n['max'] for n in noise):.2f})."]
        problems = [f"{key}: {p}" for key, row in data.items() for p in row.get("problems", [])]
        if problems:
            lines += ["", "Problems seen during the runs:", *[f"- {p}" for p in problems]]
        lines.append("")
    lines += ["Scenarios:", *[f"- {s.title}: {s.description}"
                              + (f" (yiwang process with {', '.join(f'{k}={v}' for k, v in s.yiwang_env.items())})"
                                 if s.yiwang_env else "")
                              + (f" — **skipped**: {s.skip_reason}" if s.skip_reason else "") for s in scenarios], ""]
    return "\n".join(lines)


def _command_output(command: list[str], cwd: Path | None = None) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=cwd).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    package = harness.PEER_DIR / "node_modules" / "@graphql-hive" / "gateway" / "package.json"
    return {
        "cpu": cpu, "cpus": len(harness.available_cpus()), "kernel": platform.release(),
        "python": platform.python_version(), "node": _command_output(["node", "--version"]),
        "wrk": _command_output(["wrk", "-v"]).splitlines()[0] if _command_output(["wrk", "-v"]) else "?",
        "hive_gateway": json.loads(package.read_text())["version"] if package.exists() else "?",
        "git_commit": _command_output(["git", "rev-parse", "--short", "HEAD"], cwd=harness.REPO),
        "git_uncommitted_changes": bool(_command_output(["git", "status", "--porcelain", "--untracked-files=no"],
                                                        cwd=harness.REPO)),
    }


# --- main ----------------------------------------------------------------------------------------------------
def _foreign_load(mocks: Service, seconds: float = 2.0) -> float:
    """Cores other processes keep busy while ours are idle."""
    busy, ours = harness.busy_cpu_seconds(), harness.cpu_seconds(mocks.pid)
    time.sleep(seconds)
    return max(0.0, harness.busy_cpu_seconds() - busy - (harness.cpu_seconds(mocks.pid) - ours)) / seconds


def _wait_quiet(ctx: Context, seconds: int) -> None:
    deadline = time.monotonic() + seconds
    load = _foreign_load(ctx.mocks)
    while load > NOISY_MACHINE_CORES and time.monotonic() < deadline:
        log(f"other processes keep {load:.1f} cores busy; waiting (up to {seconds} s) for the machine to calm down")
        time.sleep(5)
        load = _foreign_load(ctx.mocks)


def _extra_settings(items: Sequence[str]) -> None:
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise BenchError(f"--yiwang-env wants NAME=VALUE, got {item!r}")
        key = key.upper() if key.upper().startswith("YIWANG_") else f"YIWANG_{key.upper()}"
        harness.YIWANG_EXTRA_ENV[key] = value


def run(args: argparse.Namespace) -> int:
    if args.compare:
        from bench import compare

        _extra_settings(args.yiwang_env)
        return compare.run(args, _select(args.scenarios))
    profile = PROFILES["quick" if args.quick else "full"]
    profile = dataclasses.replace(
        profile,
        pinned_rounds=profile.pinned_rounds if args.rounds is None else args.rounds,
        unpinned_rounds=profile.unpinned_rounds if args.unpinned_rounds is None else args.unpinned_rounds,
        seconds=args.seconds or profile.seconds,
        warmup_seconds=profile.warmup_seconds if args.warmup is None else args.warmup,
        wait_quiet_seconds=profile.wait_quiet_seconds if args.wait_quiet is None else args.wait_quiet,
    )
    name = args.name or profile.name
    scenarios = _select(args.scenarios)
    _extra_settings(args.yiwang_env)
    started = time.monotonic()

    harness.ensure_peer_installed()
    wrk = "" if args.check else harness.ensure_wrk()
    cpus = harness.available_cpus()
    gateway_cpus: list[int] | None
    side_cpus: list[int] | None
    if len(cpus) >= 2:
        gateway_cpus, side_cpus = [cpus[0]], [cpus[1]]
    else:
        log("only one CPU available: the pinned variant runs unpinned")
        gateway_cpus = side_cpus = None
    workdir = harness.new_workdir()
    base_port = harness.free_base_port()
    log(f"starting the mock departments (--scale {args.scale:g}, ports {base_port + 1}–{base_port + 5}, "
        f"cpu {side_cpus}); work files in {workdir}")
    mocks = harness.start_mocks(workdir, base_port=base_port, scale=args.scale, cpus=side_cpus)
    with harness.running(mocks):
        log("composing the peer's supergraph (mesh-compose)")
        supergraph = harness.compose_supergraph(workdir, base_port=base_port)
        ctx = Context(workdir, base_port, supergraph, wrk, mocks, gateway_cpus, side_cpus, cpus, {})
        if any(s.tokens and not s.skip_reason for s in scenarios):
            ctx.tokens = harness.mint_tokens(workdir, harness.TOKEN_POOL_SIZE)
        log("checking both gateways answer the same content")
        ctx.expected_bytes = check_all(ctx, scenarios)
        print_bytes(ctx.expected_bytes)
        for scenario in scenarios:
            if scenario.skip_reason:
                print(f"{scenario.key}: skipped — {scenario.skip_reason}", flush=True)
        if args.check:
            return 0
        idle = _foreign_load(mocks)
        if idle > NOISY_MACHINE_CORES:
            log(f"warning: other processes keep {idle:.1f} cores busy right now; the results will be noisy "
                "(the ratios of one run still compare like with like, roughly)")
        rounds = run_rounds(ctx, scenarios, profile)

    variants = summarise(rounds, scenarios, ctx.expected_bytes)
    now = datetime.now(CHINA_TZ)
    result = {
        "name": name,
        "date": now.isoformat(timespec="seconds"),
        "machine": machine(),
        "config": {"scale": args.scale, "seconds": profile.seconds, "warmup_seconds": profile.warmup_seconds,
                   "pinned_rounds": profile.pinned_rounds, "unpinned_rounds": profile.unpinned_rounds,
                   "wait_quiet_seconds": profile.wait_quiet_seconds,
                   "gateway_cpus": gateway_cpus, "mock_and_wrk_cpus": side_cpus,
                   "yiwang_settings": {k: v for k, v in harness.yiwang_settings_env(workdir).items()
                                       if k != "YIWANG_POLICY_PATH"},
                   "yiwang_settings_by_scenario": {s.key: s.yiwang_env for s in scenarios if s.yiwang_env},
                   "token_pool": len(ctx.tokens) if ctx.tokens else None,
                   "wall_seconds": round(time.monotonic() - started)},
        "scenarios": headline(variants, scenarios),
        "bytes": ctx.expected_bytes,
        "queries": {s.key: {"yiwang": s.yiwang_query, "peer": s.peer_query, "description": s.description,
                            "connections": s.connections, "distinct_authorization": s.tokens,
                            "yiwang_settings": s.yiwang_env} for s in scenarios if not s.skip_reason},
        "variants": variants,
    }
    harness.RESULTS_DIR.mkdir(exist_ok=True)
    json_path = harness.RESULTS_DIR / f"{name}.json"
    md_path = harness.RESULTS_DIR / f"{name}.md"
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    table = markdown(result, scenarios)
    md_path.write_text(table)
    print(table, flush=True)
    log(f"wrote {json_path.relative_to(harness.REPO)} and {md_path.relative_to(harness.REPO)} "
        f"in {time.monotonic() - started:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

