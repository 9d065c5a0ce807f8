"""Smoke test of the benchmark harness (bench/, issue 3). Not a benchmark: no load and no timing. It checks that the
peer installs from its lock (``npm ci`` in bench/peer when node_modules is missing), that its Mesh config still
composes a supergraph from the mock departments' OpenAPI documents, and that the harness starts the mocks, yiwang and
Hive Gateway and both answer every scenario with the same content — scenario 5 with a distinct token per request,
on yiwang processes started with the scenario's own settings. Also: wrk's token rotation (`make test` installs wrk)
and that the mock departments' memoised records change no byte of what they answer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from bench import harness
from bench.harness import BenchError, Service
from bench.run import settings_groups
from bench.scenarios import SCENARIOS, Scenario, compare
from mocks import environment, gas, housing, transport, water
from mocks.city import Inventory, anchor_from_date
from mocks.control import MockControl

SMOKE_SCALE = 0.4  # still more than 5,000 water components (scenario 4) and 100 water 部件 cases (scenario 3)
SMOKE_TOKENS = 64
MEASURED = [s for s in SCENARIOS if not s.skip_reason]
BY_KEY = {s.key: s for s in SCENARIOS}
S5_KEYS = ("s5_auth_dashboard", "s5_auth_dashboard_cached")


@dataclass
class Stack:
    mocks: Service
    peer: Service
    yiwang_by_settings: list[tuple[dict[str, str], Service]]
    tokens: harness.TokenPool

    def yiwang(self, scenario: Scenario) -> Service:
        return next(service for settings, service in self.yiwang_by_settings if settings == scenario.yiwang_env)

    def headers(self, scenario: Scenario) -> dict[str, str] | None:
        return self.tokens.headers() if scenario.tokens else None

    def water_requests(self) -> int:
        answer = httpx.get(f"{harness.mock_url(self.mocks.extra['base_port'], 'water')}/_mock/requests")
        return int(answer.json()["total"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    try:
        harness.ensure_peer_installed()
    except BenchError as exc:
        pytest.fail(f"the benchmark peer cannot be installed: {exc}", pytrace=False)
    workdir: Path = tmp_path_factory.mktemp("bench")
    base_port = harness.free_base_port()
    started: list[Service] = []
    try:
        mocks = harness.start_mocks(workdir, base_port=base_port, scale=SMOKE_SCALE, cpus=None)
        started.append(mocks)
        supergraph = harness.compose_supergraph(workdir, base_port=base_port)
        yiwangs = []
        for settings, _ in settings_groups(MEASURED):  # one yiwang per set of scenario settings, as bench.run does
            service = harness.start_yiwang(workdir, base_port=base_port, port=harness.free_port(), cpus=None,
                                           settings=settings)
            started.append(service)
            yiwangs.append((settings, service))
        peer = harness.start_peer(workdir, supergraph=supergraph, base_port=base_port, port=harness.free_port(),
                                  cpus=None)
        started.append(peer)
    except BenchError as exc:
        for service in reversed(started):
            service.stop()
        pytest.fail(f"the benchmark stack did not start: {exc}", pytrace=False)
    try:
        yield Stack(mocks, peer, yiwangs, harness.mint_tokens(workdir, SMOKE_TOKENS))
    finally:
        for service in reversed(started):
            service.stop()


@pytest.mark.parametrize("scenario", MEASURED, ids=[s.key for s in MEASURED])
def test_both_gateways_answer_the_same_content(stack: Stack, scenario: Scenario) -> None:
    yiwang_service = stack.yiwang(scenario)
    yiwang = harness.ask(yiwang_service.url, scenario.yiwang_query, headers=stack.headers(scenario))
    peer = harness.ask(stack.peer.url, scenario.peer_query, headers=stack.headers(scenario))
    assert yiwang.problem() is None, f"yiwang: {yiwang.problem()}\n{yiwang_service.log_tail()}"
    assert peer.problem() is None, f"peer: {peer.problem()}\n{stack.peer.log_tail()}"
    assert compare(scenario, yiwang.json["data"], peer.json["data"]) is None
    assert 0.5 < len(yiwang.body) / len(peer.body) < 2, (len(yiwang.body), len(peer.body))


@pytest.mark.parametrize("key", S5_KEYS)
def test_scenario_5_answers_what_scenario_2_answers_anonymously(stack: Stack, key: str) -> None:
    s2, s5 = BY_KEY["s2_dashboard"], BY_KEY[key]
    anonymous = harness.ask(stack.yiwang(s2).url, s2.yiwang_query)
    authorised = harness.ask(stack.yiwang(s5).url, s5.yiwang_query, headers=stack.headers(s5))
    assert anonymous.problem() is None and authorised.problem() is None
    assert s5.normalize_yiwang(authorised.json["data"]) == s2.normalize_yiwang(anonymous.json["data"])
    assert all(authorised.json["data"][department]["totalCount"] > 0 for department in ("water", "housing"))


@pytest.mark.parametrize("key", S5_KEYS)
def test_scenario_5_yiwang_verifies_every_token(stack: Stack, key: str) -> None:
    s5 = BY_KEY[key]
    url = stack.yiwang(s5).url
    token = stack.tokens.headers()["authorization"].removeprefix("Bearer ")
    assert harness.ask(url, s5.yiwang_query, headers={"authorization": f"Bearer {token}"}).problem() is None
    forged = harness.ask(url, s5.yiwang_query, headers={"authorization": f"Bearer {harness.forged(token)}"})
    assert forged.status == 401, forged.body[:300]
    assert harness.ask(url, s5.yiwang_query).status == 401  # anonymous callers are refused in scenario 5
    # The peer verifies the same tokens (bench/peer/gateway.config.ts: Hive Gateway's JWT plugin over the demo JWKS).
    assert harness.ask(stack.peer.url, s5.peer_query, headers={"authorization": f"Bearer {token}"}).problem() is None
    peer = harness.ask(stack.peer.url, s5.peer_query, headers={"authorization": f"Bearer {harness.forged(token)}"})
    assert peer.status == 401, peer.body[:300]


def test_only_the_cached_scenario_5_shares_answers_between_users(stack: Stack) -> None:
    def department_calls(scenario: Scenario, asks: int) -> int:
        url = stack.yiwang(scenario).url
        assert harness.ask(url, scenario.yiwang_query, headers=stack.headers(scenario)).problem() is None  # primes
        before = stack.water_requests()
        for _ in range(asks):  # each with another user's token
            assert harness.ask(url, scenario.yiwang_query, headers=stack.headers(scenario)).problem() is None
        return stack.water_requests() - before

    assert department_calls(BY_KEY["s5_auth_dashboard"], 2) >= 2
    assert department_calls(BY_KEY["s5_auth_dashboard_cached"], 2) == 0


def test_scenario_5_is_scenario_2_with_tokens_and_its_own_yiwang_settings() -> None:
    s2, s5, cached = BY_KEY["s2_dashboard"], BY_KEY["s5_auth_dashboard"], BY_KEY["s5_auth_dashboard_cached"]
    assert not any(s.skip_reason for s in SCENARIOS)
    assert (s5.yiwang_query, s5.peer_query) == (cached.yiwang_query, cached.peer_query) == \
        (s2.yiwang_query, s2.peer_query)
    assert s5.tokens and cached.tokens and not s2.tokens and not s2.yiwang_env
    assert s5.yiwang_env["YIWANG_TRUST_DEMO_ISSUER"] == "true"
    assert cached.yiwang_env == {**s5.yiwang_env, "YIWANG_CACHE_ENABLED": "true"}
    assert [settings for settings, _ in settings_groups(MEASURED)] == [{}, s5.yiwang_env, cached.yiwang_env]


def test_cached_scenario_overrides_the_harness_default_but_not_the_command_line(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cached = BY_KEY["s5_auth_dashboard_cached"].yiwang_env
    assert harness.yiwang_settings_env(tmp_path)["YIWANG_CACHE_ENABLED"] == "false"
    assert harness.yiwang_settings_env(tmp_path, cached)["YIWANG_CACHE_ENABLED"] == "true"
    monkeypatch.setitem(harness.YIWANG_EXTRA_ENV, "YIWANG_CACHE_ENABLED", "false")
    assert harness.yiwang_settings_env(tmp_path, cached)["YIWANG_CACHE_ENABLED"] == "false"


# --- wrk's token rotation -----------------------------------------------------------------------------------------
@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[str]]]:
    """A keep-alive HTTP server that records the Authorization header of every POST."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            seen.append(self.headers.get("authorization", ""))
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/graphql", seen
    finally:
        server.shutdown()
        server.server_close()


def test_wrk_sends_the_next_token_with_every_request_and_never_repeats_within_the_pool(
        tmp_path: Path, recording_server: tuple[str, list[str]]) -> None:
    try:
        wrk = harness.ensure_wrk()  # `make test` installs it first; here the harness installs it as `make bench` does
    except BenchError as exc:
        pytest.fail(f"wrk is needed and cannot be installed: {exc}", pytrace=False)
    url, seen = recording_server
    pool = harness.TokenPool(tmp_path / "tokens.txt", [f"token-{n:05d}" for n in range(20_000)])
    pool.path.write_text("\n".join(pool.tokens) + "\n")
    pool.offset = len(pool) - 5  # the first run wraps around the end of the pool
    script = harness.wrk_script(tmp_path, "tokens", "{ __typename }", tokens=pool.path)
    sent: list[list[str]] = []
    for _ in range(2):  # a warm-up, then the measurement
        result = harness.run_wrk(wrk, url, script, seconds=1, connections=2, cpus=None, script_args=pool.wrk_args())
        pool.advance(result.requests + 2 + 1)  # as bench.run does: past the requests in flight at the end too
        sent.append(seen[:])
        seen.clear()
    assert all(len(run) > 10 for run in sent), [len(run) for run in sent]
    assert all(header.startswith("Bearer token-") for run in sent for header in run)
    every = [header.removeprefix("Bearer ") for run in sent for header in run]
    assert len(set(every)) == len(every), "a token was sent twice"
    assert {"token-19999", "token-00000", "token-00001"} <= set(every[:len(sent[0])]), "no wrap around the end"
    assert every[len(sent[0])] > every[len(sent[0]) - 1], "the second run starts where the first stopped"


def test_minted_tokens_are_distinct_callers_of_one_scope(tmp_path: Path) -> None:
    import jwt

    pool = harness.mint_tokens(tmp_path, 5)
    assert pool.path.read_text().split() == pool.tokens
    claims = [jwt.decode(token, options={"verify_signature": False}) for token in pool.tokens]
    assert len({c["sub"] for c in claims}) == len(set(pool.tokens)) == 5
    assert {(c["tier"], c["regionCode"], tuple(c["roles"])) for c in claims} == {("MUNICIPAL", "370800", ("viewer",))}
    assert [pool.headers()["authorization"] for _ in range(6)][5] == f"Bearer {pool.tokens[0]}"  # cycles


# --- the mocks' memoised records ------------------------------------------------------------------------------------
MEMO_INVENTORY = Inventory(scale=0.05, anchor=anchor_from_date(date(2026, 10, 1)))


async def _get(app: MockControl, path: str, headers: dict[str, str] | None = None) -> bytes:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as client:
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 200, answer.text[:300]
        return answer.content


async def _set_faults(app: MockControl, faults: dict[str, Any]) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as client:
        (await client.post("/_mock/faults", json=faults)).raise_for_status()


def _counting(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    calls = [0]
    original: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


async def test_water_renders_each_facility_once_and_answers_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    renders = _counting(monkeypatch, water.FacilityRenderer, "render")
    app = water.create_app(MEMO_INVENTORY)
    path = "/api/v1/facilities?district_codes=370811,370812&page=2&size=300"
    first = await _get(app, path)
    assert renders[0] == 300
    assert await _get(app, path) == first and renders[0] == 300  # the second answer renders nothing
    rows = MEMO_INVENTORY.select("water", regions=["370811", "370812"]).slice(300, 300)
    fresh = water.FacilityRenderer(MEMO_INVENTORY)
    assert first == orjson.dumps({"code": 0, "msg": "ok", "data": {
        "page": 2, "size": 300, "total": MEMO_INVENTORY.select("water").total,
        "records": [fresh.render(row) for row in rows]}})
    batch = ",".join(row.id for row in rows[:5])
    assert orjson.loads(await _get(app, f"/api/v1/facilities/batch?codes={batch}"))["data"]["records"] == \
        orjson.loads(first)["data"]["records"][:5]
    # A fault acts on the finished answer, not on the memo.
    await _set_faults(app, {"malformed": True})
    assert first.startswith(truncated := await _get(app, path)) and len(truncated) < len(first)
    await _set_faults(app, {})
    assert await _get(app, path) == first


async def test_housing_transport_and_gas_memoise_their_records_without_changing_a_byte(
        monkeypatch: pytest.MonkeyPatch) -> None:
    housing_renders = _counting(monkeypatch, housing.Renderer, "render")
    housing_app = housing.create_app(MEMO_INVENTORY)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=housing_app), base_url="http://mock") as client:
        token = (await client.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": housing.DEMO_CLIENT_ID,
            "client_secret": housing.DEMO_CLIENT_SECRET})).json()["access_token"]
    auth = {"authorization": f"Bearer {token}"}
    first = await _get(housing_app, "/api/objects?district=370811&limit=50", auth)
    assert await _get(housing_app, "/api/objects?district=370811&limit=50", auth) == first
    assert housing_renders[0] == 50
    rows = MEMO_INVENTORY.select("housing", regions=["370811"]).slice(0, 50)
    fresh = housing.Renderer(MEMO_INVENTORY)
    assert first == orjson.dumps({"results": [fresh.render(row) for row in rows],
                                  "count": MEMO_INVENTORY.select("housing", regions=["370811"]).total,
                                  "offset": 0, "limit": 50})

    assets = _counting(monkeypatch, transport, "render_asset")
    transport_app = transport.create_app(MEMO_INVENTORY)
    first = await _get(transport_app, "/v2/assets?limit=40")
    assert await _get(transport_app, "/v2/assets?limit=40") == first and assets[0] == 40
    selection = MEMO_INVENTORY.select("transport")
    rows = selection.slice(0, 41)
    assert first == orjson.dumps({
        "items": [transport.render_asset(row, MEMO_INVENTORY.anchor) for row in rows[:40]],
        "nextCursor": transport.encode_cursor(rows[39].id), "totalCount": selection.total})

    devices = _counting(monkeypatch, gas.GasInventory, "render")
    gas_app = gas.create_app(MEMO_INVENTORY)
    key = {gas.API_KEY_HEADER: gas.DEMO_API_KEY}
    first = await _get(gas_app, f"{gas.DEVICES_PATH}?per_page=30", key)
    assert await _get(gas_app, f"{gas.DEVICES_PATH}?per_page=30", key) == first and devices[0] == 30
    fresh_gas = gas.GasInventory(MEMO_INVENTORY)
    assert first == orjson.dumps([fresh_gas.render(device) for device in fresh_gas.devices[:30]])


async def test_environment_keeps_each_station_and_hour_and_answers_the_same_bytes() -> None:
    app = environment.create_app(MEMO_INVENTORY)
    stations = list(MEMO_INVENTORY.select("environment"))
    path = f"{environment.SERVICE_PATH}/GetStations?pageSize=5&hours="
    answers = {hours: await _get(app, f"{path}{hours}") for hours in (3, 1, 0, 6, 3)}  # shorter, then longer
    for hours, body in answers.items():
        fresh = environment.StationRenderer(MEMO_INVENTORY)  # nothing remembered yet: a first rendering
        paging = "<PageIndex>1</PageIndex><PageSize>5</PageSize>"
        assert body == fresh.result(stations[:5], len(stations), hours, paging), hours
    assert answers[6].count(b"<Hour ") == 6 * min(5, len(stations))


async def test_the_first_page_of_each_dialect_is_the_recorded_one() -> None:
    """The memo tests above compare the mocks with themselves; this pins what they send (tests/recorded_answers.py),
    so a change in a renderer that the memo faithfully repeats is noticed too."""
    from tests import recorded_answers as recorded

    housing_app = housing.create_app(MEMO_INVENTORY)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=housing_app), base_url="http://mock") as client:
        token = (await client.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": housing.DEMO_CLIENT_ID,
            "client_secret": housing.DEMO_CLIENT_SECRET})).json()["access_token"]
    answers = {
        "water": await _get(water.create_app(MEMO_INVENTORY), "/api/v1/facilities?district_codes=370811&page=1&size=1"),
        "housing": await _get(housing_app, "/api/objects?district=370811&limit=1",
                              {"authorization": f"Bearer {token}"}),
        "transport": await _get(transport.create_app(MEMO_INVENTORY), "/v2/assets?limit=1"),
        "gas": await _get(gas.create_app(MEMO_INVENTORY), f"{gas.DEVICES_PATH}?per_page=1",
                          {gas.API_KEY_HEADER: gas.DEMO_API_KEY}),
    }
    assert answers == {"water": orjson.dumps(recorded.WATER_FIRST_PAGE),
                       "housing": orjson.dumps(recorded.HOUSING_FIRST_PAGE),
                       "transport": orjson.dumps(recorded.TRANSPORT_FIRST_PAGE),
                       "gas": orjson.dumps(recorded.GAS_FIRST_PAGE)}
    stations = await _get(environment.create_app(MEMO_INVENTORY),
                          f"{environment.SERVICE_PATH}/GetStations?pageSize=1&hours=1")
    assert stations.decode() == recorded.ENVIRONMENT_FIRST_PAGE
