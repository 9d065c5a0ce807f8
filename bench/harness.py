"""Moving parts of the benchmark: installing the peer and wrk, starting the mock departments, yiwang and the peer
as pinned processes, asking them one query, driving them with wrk, and reading CPU time and peak RSS from /proc.

Everything here is usable on its own (the smoke test starts the same processes and asks one query each).
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
PEER_DIR = BENCH / "peer"
RESULTS_DIR = BENCH / "results"
VENV_BIN = Path(sys.executable).parent
DEPARTMENT_PORT_OFFSETS = {"water": 1, "transport": 2, "environment": 3, "housing": 4, "citymgmt": 5}
HOUSING_CLIENT_ID = "yiwang-gateway"  # the mock's demo credentials (mocks.housing), also yiwang's defaults
HOUSING_CLIENT_SECRET = "housing-demo-secret"
STARTUP_TIMEOUT_S = 90.0
NPM_TIMEOUT_S = 600.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Extra YIWANG_* settings for yiwang (``python -m bench.run --yiwang-env TRACING=false``), applied last.
YIWANG_EXTRA_ENV: dict[str, str] = {}
# Scenario 5: distinct demo-issuer tokens, one per request, for one kind of caller (a municipal viewer of 济宁,
# allowed the dashboard's district 370811). The pool outnumbers what yiwang remembers of verified tokens
# (gateway.auth.authenticator.VERIFIED_TOKEN_CACHE_SIZE, 10,000) three times over and wrk walks it in order from where
# the previous run stopped, so every request of a run pays a signature check.
TOKEN_POOL_SIZE = 30_000
TOKEN_TTL_S = 12 * 3600  # outlasts any run; tokens are minted once per run
TOKEN_TIER, TOKEN_REGION, TOKEN_ROLES = "municipal", "370800", ("viewer",)
BENCH_POLICY_NOTE = ("# bench/harness.py: scenarios 1-4 run without Authorization, like the peer, which has none;\n"
                     "# anonymous callers may read everything the scenarios ask for.\n")


class BenchError(RuntimeError):
    """A failure with a message meant for the person running the benchmark."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- installation --------------------------------------------------------------------------------------------
def ensure_peer_installed(*, force: bool = False) -> None:
    """``npm ci`` in bench/peer from the committed lock, unless node_modules already matches it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise BenchError("node and npm are needed for the peer (Hive Gateway); install Node.js ≥ 20 "
                         "(Debian: apt-get install -y nodejs npm)")
    marker = PEER_DIR / "node_modules" / ".package-lock.json"
    lock = PEER_DIR / "package-lock.json"
    gateway_bin = PEER_DIR / "node_modules" / ".bin" / "hive-gateway"
    if not force and gateway_bin.exists() and marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    log("installing the peer: npm ci in bench/peer (pinned versions from package-lock.json)")
    started = time.monotonic()
    try:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEER_DIR,
                              capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"npm ci in {PEER_DIR} did not finish within {NPM_TIMEOUT_S:.0f} s; is the npm registry "
                         "reachable (npm config get registry)?") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        hint = ""
        if re.search(r"ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|network|FetchError", tail, re.I):
            hint = "\nThe npm registry looks unreachable; the peer cannot be installed without it."
        raise BenchError(f"npm ci in {PEER_DIR} failed (exit {done.returncode}):\n{tail}{hint}")
    if not gateway_bin.exists():
        raise BenchError(f"npm ci finished but {gateway_bin} is missing")
    log(f"peer installed in {time.monotonic() - started:.0f} s")


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise BenchError("wrk is not installed and apt-get is not available to install it; install wrk "
                         "(https://github.com/wg/wrk) and run again")
    sudo: list[str] = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else [])
    if os.geteuid() != 0 and not sudo:
        raise BenchError("wrk is not installed and installing it needs root: run `apt-get install -y wrk` as root")
    log("installing wrk: apt-get install -y wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, apt, "install", "-y", "-q", "wrk"]
    done = subprocess.run(install, capture_output=True, text=True, env=env)
    if done.returncode != 0:  # the package lists may be missing on a fresh machine
        subprocess.run([*sudo, apt, "update", "-q"], capture_output=True, text=True, env=env)
        done = subprocess.run(install, capture_output=True, text=True, env=env)
    found = shutil.which("wrk")
    if done.returncode != 0 or found is None:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
        raise BenchError(f"could not install wrk with apt-get (exit {done.returncode}):\n{tail}")
    return found


# --- ports and CPUs ------------------------------------------------------------------------------------------
def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_base_port() -> int:
    """A base port whose mock department ports (base+1..base+5) are all free."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000, 10)
        if all(_port_free(base + offset) for offset in DEPARTMENT_PORT_OFFSETS.values()):
            return base
    raise BenchError("no free port range for the mock departments")


def available_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def set_affinity(pid: int, cpus: Sequence[int]) -> None:
    """Pin every thread of a running process."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with suppress(ProcessLookupError, PermissionError):
            os.sched_setaffinity(int(task.name), set(cpus))


def _taskset(cpus: Sequence[int] | None) -> list[str]:
    if cpus is None:
        return []
    taskset = shutil.which("taskset")
    if taskset is None:
        raise BenchError("taskset (util-linux) is needed to pin the processes")
    return [taskset, "-c", ",".join(map(str, cpus))]


# --- /proc -----------------------------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with suppress(OSError):
            out.extend(int(child) for child in task.read_text().split())
    return out


def process_tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(_children(current))
    return tree


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its live descendants, in seconds."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLK_TCK


def busy_cpu_seconds() -> float:
    """CPU time all processes on the machine have used since boot (everything but idle and iowait), in seconds."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children (wrk, after it returns)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a process, plus that of its descendants if it has any, in MiB."""
    total_kb = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        if match:
            total_kb += int(match.group(1))
    return total_kb / 1024


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/PID/clear_refs``, Linux ≥ 4.0), so the next reading is the
    peak of what follows. False when the kernel or permissions do not allow it (the peak is then since start)."""
    ok = True
    for member in process_tree(pid):
        try:
            Path(f"/proc/{member}/clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok


# --- processes -----------------------------------------------------------------------------------------------
@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def _spawn(name: str, command: list[str], *, cwd: Path, env: dict[str, str], workdir: Path) -> tuple[
        subprocess.Popen[bytes], Path]:
    log_path = workdir / f"{name}.log"
    with open(log_path, "ab") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    return process, log_path


def _wait_http(service: Service, url: str, *, method: str = "GET", body: bytes | None = None,
               timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise BenchError(f"{service.name} exited with {service.process.returncode} while starting:\n"
                             f"{service.log_tail()}")
        try:
            request = urllib.request.Request(url, data=body, method=method,
                                             headers={"content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            last_error = f"HTTP {exc.code}"
        except (OSError, urllib.error.URLError) as exc:
            last_error = str(exc)
        time.sleep(0.2)
    service.stop()
    raise BenchError(f"{service.name} did not answer {url} within {timeout_s:.0f} s ({last_error}):\n"
                     f"{service.log_tail()}")


def tree_env(tree: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a process of the source tree ``tree``: its directory first on PYTHONPATH, so that it wins
    over the venv's editable install (which points at whatever clone installed it, not at this tree)."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))])
    return env


def _cli(*arguments: str) -> list[str]:
    """``yiwang <arguments>`` run as ``python -m gateway.cli``, which every commit has; the tree is the one first on
    PYTHONPATH (tree_env)."""
    return [sys.executable, "-m", "gateway.cli", *arguments]


def start_mocks(workdir: Path, *, base_port: int, scale: float, cpus: Sequence[int] | None) -> Service:
    command = [*_taskset(cpus), *_cli("mocks", "--base-port", str(base_port), "--scale", f"{scale:g}")]
    process, log_path = _spawn("mocks", command, cwd=REPO, env=tree_env(REPO), workdir=workdir)
    service = Service("mocks", process, f"http://127.0.0.1:{base_port}", log_path, {"base_port": base_port})
    for department, offset in DEPARTMENT_PORT_OFFSETS.items():
        if department != "environment":
            _wait_http(service, f"http://127.0.0.1:{base_port + offset}/openapi.json")
    return service


def mock_url(base_port: int, department: str) -> str:
    return f"http://127.0.0.1:{base_port + DEPARTMENT_PORT_OFFSETS[department]}"


def yiwang_settings_env(workdir: Path, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """``YIWANG_*`` settings that make yiwang comparable with the peer, for the settings this version of yiwang has.

    Caching (YIWANG_CACHE_ENABLED) off: the targets hold with yiwang's own caching off, and the peer caches nothing.
    With authorization (YIWANG_ANONYMOUS, YIWANG_POLICY_PATH): anonymous callers, and a policy that makes every
    component class and the cases public, since the peer checks no credentials at all (scenario 5 adds per-request
    Authorization). A caching setting the harness does not know is reported, so that nobody measures with yiwang's
    caching on without noticing. ``overrides`` (a scenario's own settings, ``Scenario.yiwang_env``) come after these
    and before ``YIWANG_EXTRA_ENV`` (``--yiwang-env``), which is applied last."""
    from gateway.settings import Settings

    fields = Settings.model_fields
    env: dict[str, str] = {}
    if "anonymous" in fields and "policy_path" in fields:
        from gateway.auth.policy import PublicAccess
        from schema.codes import load_catalogue

        lines = [BENCH_POLICY_NOTE, "[public]"]
        for name, info in PublicAccess.model_fields.items():
            if name == "component_classes":
                lines.append(f"component_classes = {json.dumps(sorted(load_catalogue().components))}")
            elif info.annotation is bool:
                lines.append(f"{name} = true")
        policy = workdir / "yiwang-bench-policy.toml"
        policy.write_text("\n".join(lines) + "\n")
        env.update({"YIWANG_ANONYMOUS": "public", "YIWANG_POLICY_PATH": str(policy)})
    if "cache_enabled" in fields:
        env["YIWANG_CACHE_ENABLED"] = "false"  # the targets hold with yiwang's own caching off
    else:
        unknown_cache = sorted(name for name in fields if "cach" in name)
        if unknown_cache and not any("CACH" in name for name in YIWANG_EXTRA_ENV):
            log(f"yiwang has caching settings {unknown_cache} the harness leaves at their defaults; switch caching "
                "off in bench/harness.py yiwang_settings_env")
    env.update(overrides or {})
    env.update(YIWANG_EXTRA_ENV)
    return env


def start_yiwang(workdir: Path, *, base_port: int, port: int, cpus: Sequence[int] | None,
                 settings: Mapping[str, str] | None = None, tree: Path = REPO,
                 settings_env: Mapping[str, str] | None = None, log_name: str = "yiwang") -> Service:
    """yiwang of the source tree ``tree`` serving the mocks; ``settings`` are a scenario's own ``YIWANG_*``
    overrides (see yiwang_settings_env). ``settings_env``, when given, replaces what yiwang_settings_env would choose
    (bench.compare works them out for another tree's settings)."""
    env = {name: value for name, value in tree_env(tree).items() if not name.startswith("YIWANG_")}
    chosen = yiwang_settings_env(workdir, settings) if settings_env is None else settings_env
    env.update({"YIWANG_HOST": "127.0.0.1", "YIWANG_PORT": str(port), **chosen})
    env.update({f"YIWANG_{department.upper()}_URL": mock_url(base_port, department)
                for department in DEPARTMENT_PORT_OFFSETS})
    env["YIWANG_HOUSING_CLIENT_ID"], env["YIWANG_HOUSING_CLIENT_SECRET"] = HOUSING_CLIENT_ID, HOUSING_CLIENT_SECRET
    command = [*_taskset(cpus), *_cli("serve")]
    process, log_path = _spawn(log_name, command, cwd=tree, env=env, workdir=workdir)
    service = Service("yiwang", process, f"http://127.0.0.1:{port}/graphql", log_path,
                      {"settings": dict(settings or {}), "tree": str(tree)})
    _wait_http(service, f"http://127.0.0.1:{port}/healthz")
    return service


def housing_token(base_port: int) -> str:
    """A client-credentials token from the housing department, the way a Mesh user would fetch one for its
    ``operationHeaders`` before starting the gateway (the mock's tokens live 300 s; the harness fetches a fresh one
    every time it starts the peer)."""
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": HOUSING_CLIENT_ID,
                                   "client_secret": HOUSING_CLIENT_SECRET}).encode()
    request = urllib.request.Request(f"{mock_url(base_port, 'housing')}/oauth/token", data=form, method="POST",
                                     headers={"content-type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["access_token"])


def compose_supergraph(workdir: Path, *, base_port: int) -> Path:
    """Run Mesh Compose over the departments' /openapi.json (bench/peer/mesh.config.ts) into workdir."""
    output = workdir / "supergraph.graphql"
    compose = PEER_DIR / "node_modules" / ".bin" / "mesh-compose"
    env = {**os.environ, "MOCK_BASE_PORT": str(base_port)}
    done = subprocess.run([str(compose), "-o", str(output)], cwd=PEER_DIR, env=env, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0 or not output.exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise BenchError(f"mesh-compose failed (exit {done.returncode}):\n{tail}")
    return output


def start_peer(workdir: Path, *, supergraph: Path, base_port: int, port: int,
               cpus: Sequence[int] | None) -> Service:
    env = {**os.environ, "NODE_ENV": "production", "HOUSING_TOKEN": housing_token(base_port),
           "MOCK_BASE_PORT": str(base_port)}
    gateway = PEER_DIR / "node_modules" / ".bin" / "hive-gateway"
    command = [*_taskset(cpus), str(gateway), "supergraph", str(supergraph), "--host", "127.0.0.1",
               "--port", str(port), "--fork", "1"]
    process, log_path = _spawn("peer", command, cwd=PEER_DIR, env=env, workdir=workdir)
    service = Service("peer", process, f"http://127.0.0.1:{port}/graphql", log_path)
    _wait_http(service, service.url, method="POST", body=b'{"query":"{ __typename }"}')
    return service


@contextmanager
def running(service: Service) -> Iterator[Service]:
    try:
        yield service
    finally:
        service.stop()


# --- one query ---------------------------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    def problem(self) -> str | None:
        """None for a 200 with data and no errors, else what is wrong."""
        if self.status != 200:
            return f"HTTP {self.status}: {self.body[:300]!r}"
        try:
            payload = self.json
        except ValueError:
            return f"not JSON: {self.body[:300]!r}"
        if payload.get("errors"):
            return f"errors: {json.dumps(payload['errors'], ensure_ascii=False)[:500]}"
        if not payload.get("data"):
            return "no data"
        return None


def ask(url: str, query: str, *, timeout_s: float = 60.0, headers: Mapping[str, str] | None = None) -> Answer:
    body = json.dumps({"query": query}).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"content-type": "application/json", **(headers or {})})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return Answer(response.status, response.read(), time.perf_counter() - started)
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read(), time.perf_counter() - started)
    except (OSError, urllib.error.URLError) as exc:
        raise BenchError(f"{url} did not answer: {exc}") from exc


# --- tokens (scenario 5) -----------------------------------------------------------------------------------------
@dataclass
class TokenPool:
    """Distinct bearer tokens in a file, one a line, for wrk to walk through (``wrk_script(tokens=...)``).

    ``offset`` is where the next wrk run starts (``wrk_args``); ``advance`` moves it past the requests a run made, so
    consecutive runs (a warm-up, then the measurement) do not send the same tokens again within the time yiwang
    remembers a verified token."""

    path: Path
    tokens: list[str]
    offset: int = 0

    def __len__(self) -> int:
        return len(self.tokens)

    def wrk_args(self) -> list[str]:
        return [str(self.offset)]

    def advance(self, requests: int) -> None:
        self.offset = (self.offset + max(0, requests)) % len(self.tokens)

    def headers(self) -> dict[str, str]:
        """An Authorization header with the next token (for a single ``ask``)."""
        token = self.tokens[self.offset]
        self.advance(1)
        return {"authorization": f"Bearer {token}"}


def mint_tokens(workdir: Path, count: int = TOKEN_POOL_SIZE, *, ttl_s: int = TOKEN_TTL_S) -> TokenPool:
    """``count`` demo-issuer tokens (gateway.auth.demo.mint_token) with distinct subjects (and ids), all for the same
    kind of caller (TOKEN_TIER, TOKEN_REGION, TOKEN_ROLES), written to ``workdir/tokens.txt``. About 90 µs each."""
    from gateway.auth.demo import mint_token

    if count < 1:
        raise ValueError("count must be positive")
    started = time.perf_counter()
    tokens = [mint_token(TOKEN_TIER, TOKEN_REGION, TOKEN_ROLES, ttl_s=ttl_s, subject=f"bench-user-{serial:06d}")
              for serial in range(count)]
    path = workdir / "tokens.txt"
    path.write_text("\n".join(tokens) + "\n")
    log(f"minted {count:,} demo-issuer tokens in {time.perf_counter() - started:.1f} s ({path})")
    return TokenPool(path, tokens)


def forged(token: str) -> str:
    """The token with one character of its signature changed: well-formed, but it must not verify."""
    head, signature = token.rsplit(".", 1)
    middle = len(signature) // 2
    return f"{head}.{signature[:middle]}{'B' if signature[middle] == 'A' else 'A'}{signature[middle + 1:]}"


# --- wrk ---------------------------------------------------------------------------------------------------------
WRK_SCRIPT = """-- generated by bench/harness.py
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = [==[%(body)s]==]

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%%d duration_us=%%d bytes=%%d connect=%%d read=%%d write=%%d status=%%d timeout=%%d " ..
    "p50=%%d p75=%%d p90=%%d p95=%%d p99=%%d max=%%d mean=%%.1f\\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean))
end
"""


# With a token file: init() (in wrk's thread; LuaJIT 5.1) reads it and starts at the offset given after ``--``;
# every request takes the next token, cycling, so no two requests in a row of the pool's length share one.
WRK_TOKENS = """
local tokens, count, index = {}, 0, 0
local headers = {["content-type"] = "application/json"}

init = function(args)
  for line in io.lines([==[%(tokens)s]==]) do
    if #line > 0 then
      count = count + 1
      tokens[count] = line
    end
  end
  if count == 0 then error("no tokens in the token file") end
  index = (tonumber(args[1]) or 0) %% count
end

request = function()
  index = index %% count + 1
  headers["authorization"] = "Bearer " .. tokens[index]
  return wrk.format("POST", nil, headers, wrk.body)
end
"""


def wrk_script(workdir: Path, name: str, query: str, *, tokens: Path | None = None) -> Path:
    """The Lua script that POSTs ``query``; with ``tokens`` (a file, one token a line) every request carries the
    next one as ``Authorization: Bearer`` (start with ``run_wrk(script_args=pool.wrk_args())``)."""
    body = json.dumps({"query": query})
    if "]==]" in body or (tokens is not None and "]==]" in str(tokens)):
        raise BenchError("query text or token path cannot be embedded in the wrk script")
    path = workdir / f"{name}.lua"
    text = WRK_SCRIPT % {"body": body}
    if tokens is not None:
        text += WRK_TOKENS % {"tokens": str(tokens)}
    path.write_text(text)
    return path


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    non_2xx: int
    raw: str


def _latency_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(text)
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(output: str) -> WrkResult:
    """Parse wrk --latency output; the BENCH_RESULT line of the script's done() adds p95 and exact numbers."""
    line = re.search(r"^BENCH_RESULT (.*)$", output, re.M)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if line:
        values = {key: float(value) for key, value in re.findall(r"(\w+)=([\d.]+)", line.group(1))}
        seconds = values["duration_us"] / 1e6
        requests = int(values["requests"])
        return WrkResult(
            requests=requests, seconds=seconds, rps=requests / seconds if seconds else 0.0,
            p50_ms=values["p50"] / 1000, p75_ms=values["p75"] / 1000, p90_ms=values["p90"] / 1000,
            p95_ms=values["p95"] / 1000, p99_ms=values["p99"] / 1000, max_ms=values["max"] / 1000,
            errors={k: int(values[k]) for k in ("connect", "read", "write", "status", "timeout")},
            non_2xx=int(non_2xx.group(1)) if non_2xx else 0, raw=output)
    # Fallback: the standard report (no p95 there; interpolated between 90% and 99%).
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    percentiles = {int(p): _latency_ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)$", output, re.M)}
    p95 = percentiles[90] + (percentiles[99] - percentiles[90]) * 5 / 9
    return WrkResult(requests=requests, seconds=requests / rps if rps else 0.0, rps=rps, p50_ms=percentiles[50],
                     p75_ms=percentiles[75], p90_ms=percentiles[90], p95_ms=p95, p99_ms=percentiles[99],
                     max_ms=float("nan"), errors={}, non_2xx=int(non_2xx.group(1)) if non_2xx else 0, raw=output)


def run_wrk(wrk: str, url: str, script: Path, *, seconds: float, connections: int,
            cpus: Sequence[int] | None, script_args: Sequence[str] = ()) -> WrkResult:
    command = [*_taskset(cpus), wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
               "--timeout", "30s", "-s", str(script), url]
    if script_args:
        command += ["--", *script_args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    if done.returncode != 0:
        raise BenchError(f"wrk failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    try:
        return parse_wrk(done.stdout)
    except (AttributeError, KeyError, ValueError) as exc:
        raise BenchError(f"could not parse wrk output:\n{done.stdout}") from exc


# --- one measurement --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Load:
    """How to load one gateway for one measurement (bench.run and bench.compare)."""

    wrk: str
    workdir: Path
    script_name: str
    query: str
    connections: int
    seconds: int
    warmup: int
    wrk_cpus: Sequence[int] | None
    mocks_pid: int
    tokens: TokenPool | None = None  # a distinct Authorization per request


def measure_service(service: Service, load: Load) -> tuple[dict[str, Any], Answer]:
    """Warm ``service`` up, measure it with wrk and read its CPU time, peak RSS and the mocks' CPU time; then ask
    the query once more. Returns the reading (``problems`` lists wrk's failures) and that last answer, for the caller
    to check."""
    tokens = load.tokens
    script = wrk_script(load.workdir, load.script_name, load.query, tokens=tokens.path if tokens else None)

    def run(run_seconds: int) -> WrkResult:
        done = run_wrk(load.wrk, service.url, script, seconds=run_seconds, connections=load.connections,
                       cpus=load.wrk_cpus, script_args=tokens.wrk_args() if tokens else ())
        if tokens:  # the next run starts past every token this one sent (in flight at the end included)
            tokens.advance(done.requests + load.connections + 1)
        return done

    rss_reset = reset_peak_rss(service.pid)
    if load.warmup > 0:
        run(load.warmup)
    cpu_before, mock_before = cpu_seconds(service.pid), cpu_seconds(load.mocks_pid)
    busy_before, wrk_before = busy_cpu_seconds(), children_cpu_seconds()
    result = run(load.seconds)
    cpu_after, mock_after = cpu_seconds(service.pid), cpu_seconds(load.mocks_pid)
    busy_after, wrk_after = busy_cpu_seconds(), children_cpu_seconds()
    # CPU that other processes on the machine used meanwhile: a shared machine's noise, made visible.
    ours = (cpu_after - cpu_before) + (mock_after - mock_before) + (wrk_after - wrk_before)
    foreign = max(0.0, (busy_after - busy_before) - ours) / result.seconds if result.seconds else 0.0
    after = ask(service.url, load.query, headers=tokens.headers() if tokens else None)
    requests = max(result.requests, 1)
    problems = []
    if result.requests == 0:
        problems.append(f"no request completed within {result.seconds:.0f} s")
    if result.non_2xx or any(result.errors.values()):
        problems.append(f"wrk: {result.non_2xx} non-2xx, errors {result.errors}")

    def latency(value: float) -> float | None:
        return round(value, 2) if result.requests else None

    def core_use(seconds: float) -> float:
        return round(seconds / result.seconds, 3) if result.seconds else 0.0

    row: dict[str, Any] = {
        "rps": round(result.rps, 2),
        "requests": result.requests,
        "seconds": round(result.seconds, 2),
        "p50_ms": latency(result.p50_ms),
        "p75_ms": latency(result.p75_ms),
        "p90_ms": latency(result.p90_ms),
        "p95_ms": latency(result.p95_ms),
        "p99_ms": latency(result.p99_ms),
        "max_ms": latency(result.max_ms),
        "cpu_ms_per_req": round((cpu_after - cpu_before) * 1000 / requests, 3) if result.requests else None,
        "gateway_core_use": core_use(cpu_after - cpu_before),
        "peak_rss_mb": round(peak_rss_mb(service.pid), 1),
        "peak_rss_since": "scenario start" if rss_reset else "gateway start",
        "mock_cpu_ms_per_req": round((mock_after - mock_before) * 1000 / requests, 3) if result.requests else None,
        "mock_core_use": core_use(mock_after - mock_before),
        "wrk_core_use": core_use(wrk_after - wrk_before),
        "other_processes_core_use": round(foreign, 3),
        "connections": load.connections,
        "non_2xx": result.non_2xx,
        "errors": result.errors,
        "problems": problems,
    }
    return row, after


def log_reading(key: str, name: str, row: Mapping[str, Any]) -> None:
    def number(value: float | None, digits: int) -> str:
        return "–" if value is None else f"{value:,.{digits}f}"

    problems = row["problems"]
    log(f"  {key:<18} {name:<6} {row['rps']:>8.1f} rps  p99 {number(row['p99_ms'], 1):>8} ms  "
        f"cpu {number(row['cpu_ms_per_req'], 2):>7} ms/req  rss {row['peak_rss_mb']:>6.1f} MB  "
        f"gateway {row['gateway_core_use']:.2f} core  mocks {row['mock_core_use']:.2f} core  "
        f"others {row['other_processes_core_use']:.2f} core"
        + (f"  PROBLEM: {'; '.join(problems)}" if problems else ""))


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="yiwang-bench-"))
