"""Mutation score of one module (issue #18): ``make mutation MODULE=gateway/pagination.py``.

mutmut (pinned, installed by ``make mutation`` in a venv of its own, never in .venv) mutates the module in a scratch
copy of the tree and runs, for each mutant, the tests of the module's selection below that execute the mutated
function (mutmut records which tests reach which function in a first run of the selection). The selection is the
suite's files that exercise the module, not the whole suite. The score is killed (timeouts included) over all
mutants; the status of every mutant is written to ``<workdir>/results.json``.

Most of the suite's files start the mock departments, which costs seconds per mutant: ``--sample N`` runs N mutants
drawn at random (``--seed``), ``--tests`` replaces the selection, ``--mutants FILE`` runs only the mutants named in a
file (one a line), and ``--combine A.json B.json`` counts a mutant killed if either run killed it.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("gateway", "connectors", "schema", "mocks", "tests")
# The test files that exercise each module: the suite's own, then the ones written to kill its mutants.
# The unit-level files of identity (gateway/auth/identity.py until it was split into config, keys, tokens,
# authenticator and claims). The CLI test runs the `yiwang` script beside the interpreter, which mutmut's venv lacks.
AUTH_TESTS = [
    "tests/test_identity.py", "tests/test_tokens.py", "tests/test_auth_mutants.py", "tests/test_auth_edges.py",
    "--deselect", "tests/test_identity_demo.py::test_yiwang_token_cli",
]
# The cache keys and tags, derived from typed department calls (connectors/calls.py) by gateway/cache/keys.py.
# tests/test_cache.py and test_cache_privacy.py reach them too, but start the mock departments: seconds a mutant.
CACHE_KEY_TESTS = ["tests/test_calls.py", "tests/test_cache_store.py", "tests/test_cache_keys_edges.py"]
SELECTIONS: dict[str, list[str]] = {
    "gateway/pagination.py": [
        "tests/test_observability.py", "tests/test_documented_behaviour.py", "tests/test_gateway_e2e.py",
        "tests/test_pagination_mutants.py",
    ],
    "connectors/spec/mapping.py": [
        "tests/test_spec_connectors.py", "tests/test_spec_filters.py", "tests/test_spec_types.py",
        "tests/test_spec_rules.py", "tests/test_spec_mapping_edges.py",
    ],
    "gateway/auth/policy.py": [
        "tests/test_authorization.py", "tests/test_documented_behaviour.py", "tests/test_auth_mutants.py",
    ],
    "gateway/auth/principal.py": [
        "tests/test_authorization.py", "tests/test_identity.py", "tests/test_auth_mutants.py",
    ],
    **{f"gateway/auth/{name}.py": AUTH_TESTS for name in ("config", "keys", "tokens", "authenticator", "claims")},
    "gateway/cache/keys.py": CACHE_KEY_TESTS,
    "connectors/calls.py": CACHE_KEY_TESTS,
}
KILLED = {"killed", "timeout", "caught by type check"}
# mutmut's own steps for writing the mutants without running anything (mutmut 3.8: see its ``_run``).
GENERATE = """
from mutmut.__main__ import create_mutants, store_lines_covered_by_tests
from mutmut.utils.file_utils import copy_also_copy_files, copy_src_dir, setup_source_paths
from mutmut.mutation.trampoline import set_mutant_under_test
set_mutant_under_test("mutant_generation")
copy_src_dir(); copy_also_copy_files(); setup_source_paths(); store_lines_covered_by_tests(); create_mutants(2)
"""


def toml_value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON strings, numbers and arrays of them are TOML


def scratch_tree(module: str, tests: list[str], workdir: Path) -> None:
    """A copy of the tree whose [tool.mutmut] mutates only ``module`` and selects only ``tests``."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    for name in COPIED:
        shutil.copytree(ROOT / name, workdir / name, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
    text = (ROOT / "pyproject.toml").read_text()
    settings = dict(tomllib.loads(text)["tool"]["mutmut"])
    settings["only_mutate"] = [module]
    settings["pytest_add_cli_args_test_selection"] = [
        t for t in tests if t.startswith("-") or "::" in t or (ROOT / t).exists()]
    head = text.split("\n[tool.mutmut]\n", 1)[0]
    block = "\n".join(f"{key} = {toml_value(value)}" for key, value in settings.items())
    (workdir / "pyproject.toml").write_text(f"{head}\n[tool.mutmut]\n{block}\n")


def statuses(workdir: Path, module: str) -> dict[str, str]:
    sys.path.insert(0, str(Path(shutil.which("mutmut") or "").parent))
    from mutmut.stats import status_by_exit_code  # the venv's mutmut, run by this interpreter

    meta = json.loads((workdir / "mutants" / f"{module}.meta").read_text())
    return {name: status_by_exit_code[code] for name, code in meta["exit_code_by_key"].items()}


def summary(label: str, results: dict[str, str]) -> str:
    counted = {name: status for name, status in results.items() if status != "not checked"}
    killed = sum(status in KILLED for status in counted.values())
    share = killed / len(counted) if counted else 0.0
    left = sorted(name for name, status in counted.items() if status not in KILLED)
    lines = [f"  {name}: {counted[name]}" for name in left]
    return "\n".join([*lines, f"{label}: {killed}/{len(counted)} killed ({share:.1%})"])


def combine(paths: list[Path]) -> int:
    runs = [json.loads(path.read_text()) for path in paths]
    names = set().union(*runs)
    results = {name: "killed" if any(run.get(name) in KILLED for run in runs) else
               next(run[name] for run in runs if name in run) for name in names}
    print(summary(" + ".join(map(str, paths)), results))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("module", nargs="?", choices=sorted(SELECTIONS))
    parser.add_argument("--mutmut", default="mutmut", help="the mutmut executable")
    parser.add_argument("--workdir", type=Path, help="scratch copy (default: /tmp/yiwang-mutation/<module>)")
    parser.add_argument("--tests", nargs="+", help="test files instead of the module's selection")
    parser.add_argument("--deselect", action="append", default=[], help="a test id to leave out")
    parser.add_argument("--sample", type=int, help="run this many mutants drawn at random")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--mutants", type=Path, help="run only the mutants named in this file")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--combine", nargs="+", type=Path, help="results.json files to count together")
    args = parser.parse_args()
    if args.combine:
        return combine(args.combine)
    if args.module is None:
        parser.error("name a module")
    module: str = args.module
    workdir = args.workdir or Path("/tmp/yiwang-mutation") / module.replace("/", "_").removesuffix(".py")
    deselected = [part for test in args.deselect for part in ("--deselect", test)]
    scratch_tree(module, [*(args.tests or SELECTIONS[module]), *deselected], workdir)
    names: list[str] = []
    if args.sample or args.mutants:
        subprocess.run([sys.executable, "-c", GENERATE], cwd=workdir, check=True, capture_output=True)
        names = sorted(statuses(workdir, module))
        if args.mutants:
            wanted = set(args.mutants.read_text().split())
            names = [name for name in names if name in wanted]
        if args.sample:
            names = sorted(random.Random(args.seed).sample(names, min(args.sample, len(names))))
    run = subprocess.run([args.mutmut, "run", "--max-children", str(args.max_children), *names], cwd=workdir)
    if run.returncode not in (0, 1):
        return run.returncode
    results = statuses(workdir, module)
    if names:
        results = {name: results[name] for name in names}
    (workdir / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(summary(module, results))
    if not any(status != "not checked" for status in results.values()):
        return 1  # mutmut stopped before trying a mutant (its output above says why)
    print(f"a mutant's diff: cd {workdir} && {args.mutmut} show <name>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
