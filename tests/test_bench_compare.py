"""``python -m bench.run --compare <git-ref>`` (bench/compare.py) driven end to end with a tiny run: this tree against
HEAD, one small scenario, two rounds of one second (a few hundred requests each). Speed is never asserted: only the
table's and the JSON's structure, that the ratios and the noise follow from the readings, and that the temporary
worktree is gone afterwards, also when the run fails."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import compare, harness
from bench.harness import BenchError
from bench.scenarios import SCENARIOS

REPO = harness.REPO
TINY = ["--quick", "--rounds", "2", "--seconds", "1", "--warmup", "0", "--scenarios", "1", "--scale", "0.1"]
WORKTREE_LINE = re.compile(r"old tree: HEAD \(([0-9a-f]+)\) checked out in (\S+)")


@pytest.fixture(scope="module", autouse=True)
def wrk() -> str:
    try:
        return harness.ensure_wrk()
    except BenchError as exc:
        pytest.fail(f"the compare mode needs wrk: {exc}", pytrace=False)


def _git(*arguments: str) -> str:
    return subprocess.run(["git", *arguments], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def _worktrees() -> set[str]:
    listing = _git("worktree", "list", "--porcelain")
    return {line.split(" ", 1)[1] for line in listing.splitlines() if line.startswith("worktree ")}


def _compare(results: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bench.run", "--compare", "HEAD", *TINY, "--results-dir", str(results),
               "--name", "tiny", *extra]
    return subprocess.run(command, cwd=REPO, env=harness.tree_env(REPO), capture_output=True, text=True,
                          timeout=900)


def _worktree_of(stderr: str) -> Path:
    match = WORKTREE_LINE.search(stderr)
    assert match, stderr[-3000:]
    return Path(match.group(2))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    results = tmp_path_factory.mktemp("compare")
    done = _compare(results)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, results


def test_the_json_has_a_reading_per_side_and_round_and_ratios_that_follow_from_them(
        tiny_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, results = tiny_run
    result = json.loads((results / "tiny.json").read_text())
    assert result["mode"] == "compare"
    assert result["old"]["commit"] == _git("rev-parse", "HEAD")
    assert set(result["pairs"]) == {"s1_list50", "tracing_cost"}
    for key, (base, candidate) in {"s1_list50": ("old", "new"), "tracing_cost": ("new, tracing off", "new")}.items():
        pair = result["pairs"][key]
        assert (pair["base"], pair["candidate"]) == (base, candidate)
        assert pair["answers_differ"] is None  # the same commit answers the same data
        assert pair["problems"] == []
        for label in (base, candidate):
            rows = pair["rounds"][label]
            assert [row["round"] for row in rows] == [1, 2]
            assert all(row["requests"] > 0 and row["rps"] > 0 for row in rows)
        # the order alternates: base first in round 1, candidate first in round 2
        assert [row["order"] for row in pair["rounds"][base]] == [1, 2]
        assert [row["order"] for row in pair["rounds"][candidate]] == [2, 1]
        expected = [c["rps"] / b["rps"] for c, b in zip(pair["rounds"][candidate], pair["rounds"][base], strict=True)]
        assert pair["per_round_rps_ratios"] == pytest.approx(expected, abs=1e-3)
        assert pair["rps_ratio"] == pytest.approx(statistics.median(expected), abs=1e-3)
        assert pair["noise"] == pytest.approx((max(expected) - min(expected)) / 2, abs=1e-3)
    tracing = result["pairs"]["tracing_cost"]
    assert tracing["tracing_cost"] == pytest.approx(1 - tracing["rps_ratio"], abs=1e-3)
    assert result["new"]["trace_sample_ratio"] is not None


def test_the_table_has_a_line_per_scenario_and_the_tracing_line(
        tiny_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, results = tiny_run
    table = (results / "tiny.md").read_text()
    assert table in done.stdout
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("| Scenario |"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "Scenario", "old RPS", "new RPS", "new/old", "noise ±", "per round", "old CPU ms/req", "new CPU ms/req",
        "CPU new/old ± noise", "verdict"]
    rows = [line for line in lines if line.startswith("| ") and not line.startswith(("| Scenario", "|---"))]
    assert len(rows) == 1
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert cells[0] == "1. list 50 × 4 fields"
    assert len(cells) == 10
    assert len(cells[5].split(", ")) == 2  # one ratio per round
    assert cells[9].replace("*", "") in {"slower", "faster", "within noise"}
    assert re.fullmatch(r"[\d.]+ ± [\d.]+", cells[8])
    assert re.search(r"^Tracing \(new tree, scenario 2, default sampling .*\): on/off throughput [\d.]+ ± [\d.]+ .*"
                     r"cost -?[\d.]+ % \(goal < 10 %\)", table, re.M)


def test_the_worktree_is_removed_after_the_run(tiny_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, results = tiny_run
    tree = _worktree_of(done.stderr)
    assert json.loads((results / "tiny.json").read_text())["old"]["worktree"] == str(tree)
    assert not tree.exists()
    assert str(tree) not in _worktrees()


def test_the_worktree_is_removed_when_the_run_fails(tmp_path: Path) -> None:
    done = _compare(tmp_path, "--yiwang-env", "PORT=not-a-port")  # no gateway can start
    assert done.returncode == 1
    assert "did not answer" in done.stderr or "while starting" in done.stderr, done.stderr[-3000:]
    tree = _worktree_of(done.stderr)
    assert not tree.exists() and not tree.parent.exists()
    assert str(tree) not in _worktrees()
    assert not (tmp_path / "tiny.json").exists()


def test_a_process_of_a_tree_imports_that_trees_gateway_over_the_editable_install(tmp_path: Path) -> None:
    tree, elsewhere = tmp_path / "tree", tmp_path / "elsewhere"  # run from elsewhere: PYTHONPATH alone decides
    (tree / "gateway").mkdir(parents=True)
    (tree / "gateway" / "__init__.py").write_text("MARK = 'the other tree'\n")
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, "-c", "import gateway; print(gateway.MARK)"], cwd=elsewhere,
                          env=harness.tree_env(tree), capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "the other tree"


def _rows(rps: list[float]) -> list[dict[str, Any]]:
    return [{"rps": value, "cpu_ms_per_req": 1.0, "other_processes_core_use": 0.0, "problems": []} for value in rps]


@pytest.mark.parametrize(("old", "new", "verdict"), [
    ([100, 100, 100], [80, 85, 90], "slower"),  # every round below 1 by more than half the spread
    ([100, 100, 100], [95, 110, 100], "within noise"),
    ([100, 100], [120, 125], "faster"),
])
def test_a_ratio_below_1_beyond_the_noise_is_flagged_slower(old: list[float], new: list[float], verdict: str) -> None:
    dashboard = next(s for s in SCENARIOS if s.key == "s2_dashboard")
    pair = compare.Pair("s2_dashboard", dashboard.title, dashboard, compare.Side("old", REPO),
                        compare.Side("new", REPO))
    summary = compare.summarise_pair(pair, {"base": _rows(old), "candidate": _rows(new)}, None)
    assert summary["verdict"] == verdict
