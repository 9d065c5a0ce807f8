"""The property fuzzing's harness: profiles and seeds, the callers, the served gateway (the ``fuzzer`` fixture) and
the properties every answer has."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, Phase, event, note, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, queries

from gateway.app import make_schema
from gateway.auth.demo import mint_token
from gateway.auth.policy import load_policy
from gateway.settings import Settings
from tests.conftest import MockDepartments
from tests.fuzz_queries import datetime_nodes, id_nodes, sample_strings, string_nodes
from tests.served import ServedGateway, served_gateway

PROFILE_ENV = "FUZZ_PROFILE"
MAX_EXAMPLES_ENV = "FUZZ_MAX_EXAMPLES"
SEED_ENV = "FUZZ_SEED"
CI_EXAMPLES_PER_TEST = 100
DEEP_EXAMPLES_PER_TEST = 1000
CI_SEED = 20261101
REQUEST_TIMEOUT_S = 30.0
LOG_TAIL_LINES = 40

PROFILES = {
    # Reproducible: a fixed seed per test and no example database, so every CI run tries the same examples.
    "ci": settings(max_examples=CI_EXAMPLES_PER_TEST, database=None),
    # Exploration: new examples each run, failures remembered in .hypothesis/ and replayed first.
    "deep": settings(max_examples=DEEP_EXAMPLES_PER_TEST),
}


def fuzzed(offset: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The settings of the profile in force, and in the ci profile a seed of the test's own (``offset``), so that
    each test draws other examples than its neighbours."""
    name = os.environ.get(PROFILE_ENV, "ci")
    profile = PROFILES[name]
    examples = os.environ.get(MAX_EXAMPLES_ENV)
    chosen = settings(
        profile,
        max_examples=int(examples) if examples else profile.max_examples,
        deadline=None,  # a live server's latency varies; the request timeout bounds each example
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        print_blob=True,
    )

    def apply(test: Callable[..., None]) -> Callable[..., None]:
        test = chosen(test)
        if name == "ci":
            test = seed(int(os.environ.get(SEED_ENV, CI_SEED)) + offset)(test)
        return test

    return apply


@dataclass(frozen=True)
class Caller:
    name: str
    tier: str | None  # None: anonymous
    region: str = ""
    role: str = ""

    def headers(self) -> dict[str, str]:
        if self.tier is None:
            return {}
        token = mint_token(self.tier, self.region, [self.role], subject=f"fuzz-{self.name}")
        return {"authorization": f"Bearer {token}"}


NATIONAL_VIEWER = Caller("national-viewer", "NATIONAL", "000000", "viewer")
DISTRICT_VIEWER = Caller("district-viewer", "DISTRICT", "370811", "viewer")
ANONYMOUS = Caller("anonymous", None)
PLATFORM_ADMIN = Caller("platform-admin", "NATIONAL", "000000", "platform_admin")
DISPATCHER = Caller("dispatcher", "MUNICIPAL", "370800", "dispatcher")
CALLERS = (NATIONAL_VIEWER, DISTRICT_VIEWER, ANONYMOUS, PLATFORM_ADMIN, DISPATCHER)


JSON_MEDIA_TYPES = ("application/json", "application/graphql-response+json")
RESPONSE_KEYS = {"data", "errors", "extensions"}
ERROR_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
# What a Python exception, a stack trace or another system's internals look like when they leak into a message.
LEAKS = re.compile("|".join((
    r"Traceback", r'File "', r"line \d+, in ", r"\w\.py\b", r"site-packages",
    r"\b[A-Z]\w*(Error|Exception)\b",
    r"object has no attribute", r"object is not (subscriptable|callable|iterable)", r"unsupported operand",
    r"not supported between instances", r"positional argument", r"unexpected keyword argument",
    r"invalid literal for int\(\)", r"could not convert string to float", r"index out of range", r"NoneType",
    r"\bNone\b", r"\b(True|False)\b",  # Python's spelling of null, true and false
    r"<(function|class|bound method|coroutine) ", r" at 0x[0-9a-f]+", r"\bstrawberry\.", r"\bgraphql\.", r"\bhttpx\.",
    r"\baiohttp\b", r"\bpydantic\b", r"\bsqlalchemy\b", r"\bpsycopg\b", r"\borjson\b",
    r"Did you mean",  # suggestions reveal the schema, which production keeps to itself
)))
# A message may legitimately name these; they are words of the GraphQL spec or codes, not Python classes.
LEAK_ALLOWED = {"GraphQLError"}


def sdl() -> str:
    """The SDL the served gateway runs, printed in process (introspection is off in production)."""
    production = Settings(mode="production")
    return make_schema(production, load_policy(production.policy_path)).as_str()


class Fuzzer:
    """What the tests share: the served gateway, a client, the schema, the query strategies and each caller's
    headers. Not a dataclass, so that Hypothesis's report of a failing example shows only its short repr."""

    def __init__(self, gateway: ServedGateway, client: httpx.Client, schema: graphql.GraphQLSchema,
                 documents: dict[Mode, st.SearchStrategy[str]], headers: dict[Caller, dict[str, str]]) -> None:
        self.gateway = gateway
        self.client = client
        self.schema = schema
        self.documents = documents
        self.headers = headers

    def __repr__(self) -> str:
        return f"Fuzzer({self.gateway.url})"


@pytest.fixture(name="fuzzer", scope="module")
def fixture_fuzzer(mock_departments: MockDepartments, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzer]:
    env = {"YIWANG_ANONYMOUS": "public"}  # anonymous callers are let in (public data only), so they can be fuzzed
    with served_gateway(mock_departments, tmp_path_factory.mktemp("fuzz"), env) as gateway, \
            httpx.Client(base_url=gateway.url, timeout=REQUEST_TIMEOUT_S) as client:
        text = sdl()
        schema = graphql.build_schema(text)
        samples = sample_strings(gateway, NATIONAL_VIEWER.headers())  # a national viewer sees every district
        scalars = {"String": string_nodes(samples), "ID": id_nodes(samples), "DateTime": datetime_nodes()}
        documents = {mode: queries(text, custom_scalars=scalars, mode=mode) for mode in Mode}
        yield Fuzzer(gateway, client, schema, documents, {caller: caller.headers() for caller in CALLERS})


def leaks(error: dict[str, Any]) -> list[str]:
    text = json.dumps(error, ensure_ascii=False)
    return [m.group(0) for m in LEAKS.finditer(text) if m.group(0) not in LEAK_ALLOWED]


def check_answer(response: httpx.Response, *, rejected: bool) -> None:
    """The properties every answer has, whatever was asked; ``rejected``: the request is one the gateway must refuse
    (errors, no data)."""
    shown = f"{response.status_code} {response.headers.get('content-type')}: {response.text[:2000]}"
    assert response.status_code < 500, shown
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    assert media_type in JSON_MEDIA_TYPES, shown
    body = response.json()
    assert isinstance(body, dict), shown
    assert "data" in body or "errors" in body, shown
    assert set(body) <= RESPONSE_KEYS, shown
    if body.get("data") is not None:
        assert isinstance(body["data"], dict), shown
    errors = body.get("errors")
    if errors is not None or response.status_code != 200:
        assert isinstance(errors, list) and errors, shown
    for error in errors or ():
        assert isinstance(error, dict), shown
        assert isinstance(error.get("message"), str) and error["message"], shown
        code = (error.get("extensions") or {}).get("code")
        assert isinstance(code, str) and ERROR_CODE.match(code), shown
        assert not leaks(error), f"{leaks(error)} in {shown}"
        # Departments are healthy here: an internal error means some input reached code that did not expect it.
        assert code != "INTERNAL_SERVER_ERROR", shown
    if rejected:
        assert errors and body.get("data") is None, shown
    if any(isinstance(error, dict) and error.get("path") for error in errors or ()):
        # A field's error nulls that field only (root fields are nullable), never the other fields' data.
        assert isinstance(body.get("data"), dict), shown


def record(valid: bool, response: httpx.Response) -> None:
    """What was sent and what came back, for ``--hypothesis-show-statistics``: is the fuzzing reaching data?"""
    event("valid request" if valid else "invalid request")
    event(f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        return
    if isinstance(body, dict):
        event("with data" if body.get("data") else "without data")
        for error in body.get("errors") or ():
            event(f"error {((error or {}).get('extensions') or {}).get('code')}")


def post(fuzzer: Fuzzer, headers: dict[str, str], content: bytes) -> httpx.Response:
    try:
        response = fuzzer.client.post("/graphql", content=content, headers=headers)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        # The server closed the kept-alive connection after the previous answer (uvicorn does after a 500, which
        # that example reported); send this example again on a new connection, so it stands on its own.
        response = fuzzer.client.post("/graphql", content=content, headers=headers)
    note(f"{response.status_code}: {response.text[:2000]}")
    return response


def failed(fuzzer: Fuzzer) -> None:
    note("gateway log tail:\n" + "\n".join(fuzzer.gateway.log_text().splitlines()[-LOG_TAIL_LINES:]))
