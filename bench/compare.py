"""The working tree against an older commit, side by side in one run: ``python -m bench.run --compare <git-ref>``.

    python -m bench.run --compare 1f9c571 --quick      # make bench-compare REF=1f9c571 ARGS=--quick
    python -m bench.run --compare main --scenarios 2,4 --rounds 8

<git-ref> is checked out into a temporary git worktree (``git worktree add --detach``, removed afterwards, also when
the run fails). The gateway of that tree ("old") and the gateway of this one ("new") run on the same venv, each with
its own directory first on PYTHONPATH and started through its CLI (``python -m gateway.cli serve``), against the same
mock departments (this tree's), with the same settings (bench/harness.py ``yiwang_settings_env``, worked out against
each tree's own ``Settings``) and the same wrk load. Every round starts a fresh process of each and measures every
scenario on one and right after on the other, the order alternating per round (ABBA over two rounds), so that the
machine's drift falls on both sides of a ratio alike.

Per scenario: the median throughput of each side, the ratio new/old (the median of the per-round ratios, each taken
from two measurements seconds apart), and the noise: half the spread of the per-round ratios. A scenario whose ratio
is below 1 by more than that is flagged as slower. CPU time per request (from /proc) is given beside it. One more line
measures what tracing costs in the new tree: scenario 2 with tracing at the tree's default sampling against
``YIWANG_TRACING=false``, in the same rounds (goal: under 10 %). Writes bench/results/<name>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import harness
from bench.harness import BenchError, Service, log
from bench.scenarios import SCENARIOS, Scenario

TRACING_BUDGET = 0.10  # the most tracing may cost at the default sampling, as a share of throughput
TRACING_SCENARIO = "s2_dashboard"


@dataclass(frozen=True)
class CompareProfile:
    rounds: int
    seconds: int
    warmup_seconds: int


PROFILES = {"quick": CompareProfile(rounds=4, seconds=2, warmup_seconds=1),
            "full": CompareProfile(rounds=6, seconds=5, warmup_seconds=2)}

# The settings probe runs this tree's bench/harness.py by path in a process of the measured tree, so that the same
# harness logic chooses the settings against that tree's own gateway.settings (and its policy fields).
_SETTINGS_PROBE = """
import json, runpy, sys
from pathlib import Path
harness = runpy.run_path(sys.argv[1])
harness["YIWANG_EXTRA_ENV"].update(json.loads(sys.argv[4]))
import gateway.settings as settings
ratio = getattr(settings.Settings.model_fields.get("trace_sample_ratio"), "default", None)
if ratio is None:  # a tree whose default depends on the mode: the production one (the bench is not the demo)
    ratio = getattr(settings, "DEFAULT_TRACE_SAMPLE_RATIO", None)
print(json.dumps({"env": harness["yiwang_settings_env"](Path(sys.argv[2]), json.loads(sys.argv[3])),
                  "trace_sample_ratio": ratio}))
"""


# --- the temporary worktree -------------------------------------------------------------------------------------
def _git(*arguments: str, cwd: Path = harness.REPO) -> str:
    done = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(arguments)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


@contextmanager
def temporary_worktree(ref: str) -> Iterator[tuple[Path, str]]:
    """``ref`` checked out (detached) in a new directory; yields the directory and the full commit id. The worktree
    is removed on the way out, whatever happened."""
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except BenchError as exc:
        raise BenchError(f"{ref!r} names no commit in {harness.REPO}") from exc
    parent = Path(tempfile.mkdtemp(prefix="yiwang-compare-"))
    tree = parent / "tree"
    try:
        _git("worktree", "add", "--detach", str(tree), commit)
        log(f"old tree: {ref} ({commit[:9]}) checked out in {tree}")
        yield tree, commit
    finally:  # remove it even if git refuses (a half-made worktree), then have git forget it
        for command in (["git", "worktree", "remove", "--force", str(tree)], None, ["git", "worktree", "prune"]):
            if command is None:
                shutil.rmtree(parent, ignore_errors=True)
                continue
            with suppress(OSError, subprocess.SubprocessError):
                subprocess.run(command, cwd=harness.REPO, capture_output=True, timeout=120)
        log(f"removed the temporary worktree {tree}")


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --- sides and pairs --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Side:
    label: str  # "old", "new", "new, tracing off"
    tree: Path
    extra_env: tuple[tuple[str, str], ...] = ()  # over the scenario's settings

    @property
    def slug(self) -> str:
        return self.label.replace(", ", "-").replace(" ", "-")


@dataclass(frozen=True)
class Pair:
    """One line of the table: ``scenario`` measured on ``base`` and ``candidate``; the ratio is candidate/base."""

    key: str
    title: str
    scenario: Scenario
    base: Side
    candidate: Side


class SettingsProbe:
    """The YIWANG_* environment of every (side, scenario settings), worked out once per run (a probe process)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.cache: dict[tuple[Path, str], dict[str, Any]] = {}

    def probe(self, side: Side, scenario: Scenario) -> dict[str, Any]:
        overrides = {**scenario.yiwang_env, **dict(side.extra_env)}
        key = (side.tree, json.dumps(overrides, sort_keys=True))
        if key not in self.cache:
            policy_dir = self.workdir / f"settings-{side.slug}"
            policy_dir.mkdir(exist_ok=True)
            command = [sys.executable, "-c", _SETTINGS_PROBE, str(harness.BENCH / "harness.py"), str(policy_dir),
                       json.dumps(overrides), json.dumps(harness.YIWANG_EXTRA_ENV)]
            done = subprocess.run(command, cwd=side.tree, env=harness.tree_env(side.tree), capture_output=True,
                                  text=True, timeout=120)
            if done.returncode != 0:
                raise BenchError(f"could not work out the settings of the {side.label} tree ({side.tree}):\n"
                                 f"{done.stderr.strip()[-1500:]}")
            self.cache[key] = json.loads(done.stdout.strip().splitlines()[-1])
        return self.cache[key]

    def env(self, side: Side, scenario: Scenario) -> dict[str, str]:
        return dict(self.probe(side, scenario)["env"])


@dataclass
class Run:
    workdir: Path
    base_port: int
    wrk: str
    mocks: Service
    gateway_cpus: list[int] | None
    side_cpus: list[int] | None
    settings: SettingsProbe
    tokens: harness.TokenPool | None
    reference: dict[tuple[str, str], Any]  # (pair key, side label) -> the data of the check

    def start(self, side: Side, scenario: Scenario, *, pinned: bool) -> Service:
        service = harness.start_yiwang(
            self.workdir, base_port=self.base_port, port=harness.free_port(),
            cpus=self.gateway_cpus if pinned else None, tree=side.tree,
            settings_env=self.settings.env(side, scenario), log_name=f"yiwang-{side.slug}")
        service.name = side.label
        return service

    def headers(self, scenario: Scenario) -> dict[str, str] | None:
        return self.tokens.headers() if scenario.tokens and self.tokens is not None else None


class Processes:
    """The gateway processes of a round, one per side and set of settings, started when first needed."""

    def __init__(self, run: Run, *, pinned: bool) -> None:
        self.run, self.pinned = run, pinned
        self.services: dict[tuple[str, str], Service] = {}

    def get(self, side: Side, scenario: Scenario) -> Service:
        key = (side.label, json.dumps(scenario.yiwang_env, sort_keys=True))
        if key not in self.services:
            self.services[key] = self.run.start(side, scenario, pinned=self.pinned)
        return self.services[key]

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()
        self.services.clear()


def make_pairs(scenarios: Sequence[Scenario], old: Side, new: Side, *, tracing_line: bool) -> list[Pair]:
    pairs = [Pair(s.key, s.title, s, old, new) for s in scenarios if not s.skip_reason]
    if tracing_line:
        dashboard = next(s for s in SCENARIOS if s.key == TRACING_SCENARIO)
        untraced = Side("new, tracing off", new.tree, (("YIWANG_TRACING", "false"),))
        pairs.append(Pair("tracing_cost", "tracing on/off (new tree, scenario 2)", dashboard, untraced, new))
    return pairs


# --- checking and measuring -------------------------------------------------------------------------------------
def check(run: Run, pairs: Sequence[Pair]) -> dict[str, str | None]:
    """Ask every pair's query once on both sides; both must answer without errors. Returns, per pair, None when both
    answer the same data, else how they differ (reported, not fatal: a new commit may fix an answer)."""
    differences: dict[str, str | None] = {}
    processes = Processes(run, pinned=False)
    try:
        for pair in pairs:
            data = {}
            for side in (pair.base, pair.candidate):
                service = processes.get(side, pair.scenario)
                answer = harness.ask(service.url, pair.scenario.yiwang_query, headers=run.headers(pair.scenario))
                problem = answer.problem()
                if problem:
                    raise BenchError(f"{pair.key}: the {side.label} gateway did not answer properly: {problem}\n"
                                     f"{service.log_tail(15)}")
                data[side.label] = run.reference[(pair.key, side.label)] = answer.json["data"]
            same = data[pair.base.label] == data[pair.candidate.label]
            differences[pair.key] = None if same else f"{pair.base.label} and {pair.candidate.label} answer " \
                                                      "different data"
            log(f"{pair.key}: both answer{'' if same else ' (DIFFERENT data)'}")
    finally:
        processes.stop()
    return differences


def measure(run: Run, processes: Processes, pair: Pair, side: Side, profile: CompareProfile) -> dict[str, Any]:
    scenario = pair.scenario
    tokens = run.tokens if scenario.tokens else None
    window = max(profile.seconds, min(scenario.min_seconds, profile.seconds * 2))  # slow ones: up to twice as long
    load = harness.Load(run.wrk, run.workdir, f"{pair.key}-{side.slug}", scenario.yiwang_query,
                        scenario.connections, window, profile.warmup_seconds,
                        run.side_cpus if processes.pinned else None, run.mocks.pid, tokens)
    row, after = harness.measure_service(processes.get(side, scenario), load)
    problem = after.problem()
    if problem:
        row["problems"].append(f"answer after the run: {problem}")
    elif after.json["data"] != run.reference[(pair.key, side.label)]:
        row["problems"].append("answer after the run differs from the one before the rounds")
    harness.log_reading(pair.key, side.label, row)
    return row


def run_rounds(run: Run, pairs: Sequence[Pair], profile: CompareProfile) -> dict[str, dict[str, list[Any]]]:
    """Per pair and side, one reading per round; fresh processes every round, the order alternating per round."""
    readings: dict[str, dict[str, list[Any]]] = {pair.key: {"base": [], "candidate": []} for pair in pairs}
    pinned = run.gateway_cpus is not None
    for number in range(profile.rounds):
        log(f"round {number + 1}/{profile.rounds}: each pair {'base first' if number % 2 == 0 else 'candidate first'}")
        processes = Processes(run, pinned=pinned)
        try:
            for pair in pairs:  # every process first, so that the two sides of a pair are measured seconds apart
                for side in (pair.base, pair.candidate):
                    processes.get(side, pair.scenario)
            for pair in pairs:
                order = ("base", "candidate") if number % 2 == 0 else ("candidate", "base")
                for role in order:
                    row = measure(run, processes, pair, getattr(pair, role), profile)
                    row["round"], row["order"] = number + 1, order.index(role) + 1
                    readings[pair.key][role].append(row)
        finally:
            processes.stop()
    return readings


# --- summary ----------------------------------------------------------------------------------------------------
def _ratios(candidate: Sequence[dict[str, Any]], base: Sequence[dict[str, Any]], metric: str) -> list[float]:
    return [round(c[metric] / b[metric], 4) for c, b in zip(candidate, base, strict=True)
            if c[metric] is not None and b[metric]]


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 4) if present else None


def _half_spread(values: Sequence[float]) -> float | None:
    """The noise of a ratio: half the spread of its per-round values (how far one round strays either way)."""
    return round((max(values) - min(values)) / 2, 4) if values else None


def summarise_pair(pair: Pair, rows: dict[str, list[Any]], difference: str | None) -> dict[str, Any]:
    base, candidate = rows["base"], rows["candidate"]
    rps_ratios, cpu_ratios = _ratios(candidate, base, "rps"), _ratios(candidate, base, "cpu_ms_per_req")
    ratio, noise = _median(rps_ratios), _half_spread(rps_ratios)
    if ratio is None or noise is None:
        verdict = "not measured"
    elif ratio + noise < 1:
        verdict = "slower"
    elif ratio - noise > 1:
        verdict = "faster"
    else:
        verdict = "within noise"
    summary: dict[str, Any] = {
        "title": pair.title, "base": pair.base.label, "candidate": pair.candidate.label,
        "base_rps": _median([r["rps"] for r in base]), "candidate_rps": _median([r["rps"] for r in candidate]),
        "rps_ratio": ratio, "noise": noise, "per_round_rps_ratios": rps_ratios, "verdict": verdict,
        "base_cpu_ms_per_req": _median([r["cpu_ms_per_req"] for r in base]),
        "candidate_cpu_ms_per_req": _median([r["cpu_ms_per_req"] for r in candidate]),
        "cpu_ratio": _median(cpu_ratios), "cpu_noise": _half_spread(cpu_ratios), "per_round_cpu_ratios": cpu_ratios,
        "other_processes_core_use": _median([r["other_processes_core_use"] for r in base + candidate]),
        "answers_differ": difference,
        "problems": [p for row in base + candidate for p in row["problems"]],
        "rounds": {pair.base.label: base, pair.candidate.label: candidate},
    }
    if pair.key == "tracing_cost" and ratio is not None and noise is not None:
        summary["tracing_cost"] = round(1 - ratio, 4)
        summary["verdict"] = "over budget" if 1 - ratio - noise > TRACING_BUDGET else (
            "within budget" if 1 - ratio + noise < TRACING_BUDGET else "at the budget, within noise")
    return summary


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(result: dict[str, Any]) -> str:
    config, old, new = result["config"], result["old"], result["new"]
    lines = [f"# yiwang {new['label']} against {old['ref']} ({old['commit'][:9]}) — {result['date']}", "",
             f"{config['rounds']} rounds, {config['seconds']} s per measurement after {config['warmup_seconds']} s "
             f"of warm-up, order alternating per round; mocks --scale {config['scale']:g}; "
             f"{'gateways pinned to core ' + str(config['gateway_cpus']) if config['gateway_cpus'] else 'unpinned'}. "
             "Ratio: median of the per-round ratios new/old; noise: half their spread.", "",
             "| Scenario | old RPS | new RPS | new/old | noise ± | per round | old CPU ms/req | new CPU ms/req | "
             "CPU new/old ± noise | verdict |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    tracing = None
    for key, row in result["pairs"].items():
        if key == "tracing_cost":
            tracing = row
            continue
        flag = "**slower**" if row["verdict"] == "slower" else row["verdict"]
        if row["answers_differ"] or row["problems"]:
            flag += " (see problems)"
        lines.append(f"| {row['title']} | {_fmt(row['base_rps'])} | {_fmt(row['candidate_rps'])} | "
                     f"{_fmt(row['rps_ratio'], 3)} | {_fmt(row['noise'], 3)} | "
                     f"{', '.join(f'{r:.3f}' for r in row['per_round_rps_ratios'])} | "
                     f"{_fmt(row['base_cpu_ms_per_req'], 2)} | {_fmt(row['candidate_cpu_ms_per_req'], 2)} | "
                     f"{_fmt(row['cpu_ratio'], 3)} ± {_fmt(row['cpu_noise'], 3)} | {flag} |")
    if tracing is not None:
        lines += ["", f"Tracing (new tree, scenario 2, default sampling YIWANG_TRACE_SAMPLE_RATIO="
                      f"{result['new']['trace_sample_ratio']}): on/off throughput {_fmt(tracing['rps_ratio'], 3)} "
                      f"± {_fmt(tracing['noise'], 3)} (per round "
                      f"{', '.join(f'{r:.3f}' for r in tracing['per_round_rps_ratios'])}), cost "
                      f"{_fmt(100 * tracing['tracing_cost'] if 'tracing_cost' in tracing else None)} % "
                      f"(goal < {100 * TRACING_BUDGET:.0f} %): {tracing['verdict']}; CPU per request on/off "
                      f"{_fmt(tracing['cpu_ratio'], 3)} ± {_fmt(tracing['cpu_noise'], 3)} "
                      f"({_fmt(tracing['base_cpu_ms_per_req'], 2)} → "
                      f"{_fmt(tracing['candidate_cpu_ms_per_req'], 2)} ms)."]
    noise = [row["other_processes_core_use"] for row in result["pairs"].values()
             if row["other_processes_core_use"] is not None]
    if noise:
        lines += ["", f"Other processes on the machine used a median of {statistics.median(noise):.2f} core "
                      f"during the measurements (at most {max(noise):.2f} for one line)."]
    problems = [f"{key}: {p}" for key, row in result["pairs"].items()
                for p in ([row["answers_differ"]] if row["answers_differ"] else []) + row["problems"]]
    if problems:
        lines += ["", "Problems:", *[f"- {p}" for p in problems]]
    return "\n".join(lines) + "\n"


# --- main -------------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace, scenarios: Sequence[Scenario]) -> int:
    base = PROFILES["quick" if args.quick else "full"]
    profile = CompareProfile(rounds=args.rounds or base.rounds, seconds=args.seconds or base.seconds,
                             warmup_seconds=base.warmup_seconds if args.warmup is None else args.warmup)
    name = args.name or "compare"
    results_dir = Path(args.results_dir) if args.results_dir else harness.RESULTS_DIR
    started = time.monotonic()
    wrk = harness.ensure_wrk()
    cpus = harness.available_cpus()
    gateway_cpus, side_cpus = ([cpus[0]], [cpus[1]]) if len(cpus) >= 2 else (None, None)
    head = _git("rev-parse", "HEAD")  # what the new side runs: this commit, with its uncommitted changes if any
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    workdir = harness.new_workdir()
    try:
        with temporary_worktree(args.compare) as (old_tree, commit), ExitStack() as stack:
            old, new = Side("old", old_tree), Side("new", harness.REPO)
            pairs = make_pairs(scenarios, old, new, tracing_line=not args.no_tracing_line)
            settings = SettingsProbe(workdir)
            for pair in pairs:  # fail early, before the mocks start, if a tree cannot say its settings
                for side in (pair.base, pair.candidate):
                    settings.probe(side, pair.scenario)
            base_port = harness.free_base_port()
            log(f"starting the mock departments (--scale {args.scale:g}, cpu {side_cpus}); work files in {workdir}")
            mocks = stack.enter_context(harness.running(harness.start_mocks(
                workdir, base_port=base_port, scale=args.scale, cpus=side_cpus)))
            tokens = harness.mint_tokens(workdir, harness.TOKEN_POOL_SIZE) if any(
                p.scenario.tokens for p in pairs) else None
            context = Run(workdir, base_port, wrk, mocks, gateway_cpus, side_cpus, settings, tokens, {})
            differences = check(context, pairs)
            readings = run_rounds(context, pairs, profile)
            new_ratio = settings.probe(new, pairs[0].scenario)["trace_sample_ratio"] if pairs else None
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "name": name, "mode": "compare", "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "old": {"ref": args.compare, "commit": commit, "worktree": str(old_tree)},
        "new": {"label": f"{head[:9]}{' + uncommitted changes' if dirty else ''}", "commit": head,
                "uncommitted_changes": dirty, "tree": str(harness.REPO), "trace_sample_ratio": new_ratio},
        "config": {"scale": args.scale, "rounds": profile.rounds, "seconds": profile.seconds,
                   "warmup_seconds": profile.warmup_seconds, "gateway_cpus": gateway_cpus,
                   "mock_and_wrk_cpus": side_cpus, "extra_settings": dict(harness.YIWANG_EXTRA_ENV),
                   "wall_seconds": round(time.monotonic() - started)},
        "method": {"ratio": "median over rounds of candidate/base throughput, both measured in the same round",
                   "noise": "half the spread (max - min) of the per-round ratios (cpu_noise: the same of CPU time)",
                   "slower": "ratio + noise < 1", "tracing_budget": TRACING_BUDGET},
        "pairs": {pair.key: summarise_pair(pair, readings[pair.key], differences[pair.key]) for pair in pairs},
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    table = markdown(result)
    (results_dir / f"{name}.md").write_text(table)
    print(table, flush=True)
    log(f"wrote {results_dir / name}.json and .md in {time.monotonic() - started:.0f} s")
    return 0
