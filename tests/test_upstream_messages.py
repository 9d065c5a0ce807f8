"""A department that answers garbage, fails or hangs: callers get one generic message per error code naming the
department (errors[], ``departments { problem }``, ``/readyz``), never its internals — exception names, Python reprs,
URLs, the department's own texts; the detail (what went wrong, the exception's type, the field, the value) is in the
server log and the trace, and in the connector dry run, which only the department's operator may run.

The gas company is a spec connector (``connectors/specs/gas.yaml``) over ``mocks/gas.py``, whose ``garbled`` fault
drops the ``X-Total-Count`` header (``headers``) or sends statuses as the number 42 (``values``)."""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from connectors.client import DepartmentClient
from connectors.spec.connector import connector_class
from connectors.spec.model import load_spec
from gateway.app import create_app
from gateway.departments import build_connectors
from gateway.exceptions import UpstreamBadResponse, UpstreamUnavailable
from gateway.router import ConnectorSet
from tests.clocks import ManualClock, plugins_on_clock
from tests.conftest import NATIONAL_VIEWER, MockDepartments, bearer, gateway_settings
from tests.served import UNREADABLE_DIAMETER, registry_env, served_gateway, water_with_unreadable_diameters

SPECS = Path(__file__).resolve().parent.parent / "connectors" / "specs"
GAS_PORT_OFFSET = 6
GAS_NAME = "燃气 Gas supply"
WATER_NAME = "供水排水 Water supply and drainage"
ADMIN = ("MUNICIPAL", "370800", "platform_admin")
PUBLIC_TEXT = {
    "UPSTREAM_BAD_RESPONSE": "answered with data the gateway could not read",
    "UPSTREAM_UNAVAILABLE": "is unavailable",
    "UPSTREAM_TIMEOUT": "did not answer in time",
}
GAS_AND_WATER = """query GasAndWater {
  components(filter: {classCodes: ["0135", "0113"], regionCode: "370811"}, first: 5) { nodes { id department } } }"""
# What an exception, a stack, a URL or a department's own text looks like when it leaks into a caller's message.
LEAKS = re.compile("|".join((
    r"Traceback", r'File "', r"\w\.py\b", r"\b[A-Z]\w*(Error|Exception)\b", r"invalid literal", r"'[^']*'",
    r"https?://", r"127\.0\.0\.1", r"\bHTTP \d{3}\b", r"X-Total-Count", r"\b42\b", r"java\.", r"nginx", r"约七百",
    r"\bline \d+", r"object has no attribute", r"NoneType", r" at 0x[0-9a-f]+",
)))


def gas_url(mocks: MockDepartments) -> str:
    return f"http://127.0.0.1:{mocks.base_port + GAS_PORT_OFFSET}"


def set_gas_faults(mocks: MockDepartments, **faults: Any) -> None:
    httpx.post(f"{gas_url(mocks)}/_mock/faults", json=faults).raise_for_status()


@pytest.fixture
def gas(mock_departments: MockDepartments) -> Iterator[MockDepartments]:
    """The mock departments, with the gas company's faults reset afterwards (``reset`` knows only the five)."""
    yield mock_departments
    set_gas_faults(mock_departments)


@asynccontextmanager
async def gateway_with_gas(mocks: MockDepartments, *, gas_timeout_s: float | None = None, water: Any = None,
                           clock: ManualClock | None = None, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The five code connectors and the gas spec connector behind one in-process gateway, as a national viewer."""
    settings = gateway_settings(mocks, **{"cache_enabled": False, "connector_allowlist": "127.0.0.1", **overrides})
    spec = load_spec(SPECS / "gas.yaml").model_copy(update={"base_url": gas_url(mocks)})
    gas_connector = connector_class(spec)(DepartmentClient(spec.base_url), timeout_s=gas_timeout_s or spec.timeout_s)
    code = [c for c in build_connectors(settings) if water is None or c.department_id != "water"]
    app = create_app(settings, connectors=ConnectorSet([*code, gas_connector, *([water] if water else [])]),
                     plugins=plugins_on_clock(settings, clock) if clock is not None else None)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                     timeout=30, headers=bearer(*NATIONAL_VIEWER)) as client:
            yield client
    finally:
        await app.state.connector_source.aclose()


async def ask(client: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_generic(error: dict[str, Any], code: str, department: str, name: str) -> None:
    assert error["message"] == f"the {department} department ({name}) {PUBLIC_TEXT[code]}", error
    assert error["extensions"] == {"code": code, "department": department}, error
    assert not LEAKS.search(error["message"]), error["message"]


async def trace_of(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(f"/admin/traces/{body['extensions']['traceId']}", headers=bearer(*ADMIN))
    assert response.status_code == 200, response.text
    trace: dict[str, Any] = response.json()
    return trace


def exception_events(trace: dict[str, Any], span_name: str) -> list[dict[str, Any]]:
    return [event["attributes"] for span in trace["spans"] if span["name"] == span_name
            for event in span["events"] if event["name"] == "exception"]


def upstream_log(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records if record.name == "yiwang.upstream")


# --- errors[] -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("faults", "code", "detail", "cause"), [
    ({"garbled": "headers"}, "UPSTREAM_BAD_RESPONSE", "gas: unexpected page: the answer has no X-Total-Count header",
     "ValueError"),
    ({"garbled": "values"}, "UPSTREAM_BAD_RESPONSE",
     "gas: unexpected records: record 3708110135000001: status: value '42' is not in the spec's values "
     "(ZC, SH, DS, ZY, FQ)", "ValueError"),
    ({"malformed": True}, "UPSTREAM_BAD_RESPONSE", "gas: answer is not valid JSON (", None),
    ({"down": True}, "UPSTREAM_UNAVAILABLE", "gas: answered HTTP 502: <html>", None),
    ({"error_rate": 1.0}, "UPSTREAM_UNAVAILABLE", "java.lang.NullPointerException", None),
])
async def test_a_department_answering_garbage_gets_a_generic_message_and_the_detail_goes_to_log_and_trace(
    gas: MockDepartments, caplog: pytest.LogCaptureFixture, faults: dict[str, Any], code: str, detail: str,
    cause: str | None,
) -> None:
    set_gas_faults(gas, **faults)
    caplog.set_level(logging.WARNING)
    async with gateway_with_gas(gas) as client:
        body = await ask(client, GAS_AND_WATER)
        trace = await trace_of(client, body)
    [error] = body["errors"]
    assert_generic(error, code, "gas", GAS_NAME)
    assert error["path"] == ["components"]
    assert {node["department"] for node in body["data"]["components"]["nodes"]} == {"water"}  # the others answer
    assert detail not in orjson.dumps(body).decode()

    assert detail in upstream_log(caplog)
    [event] = exception_events(trace, "department.fetch gas")
    assert detail in event["exception.message"]
    assert event["yiwang.error.code"] == code and event["yiwang.department"] == "gas"
    if cause is not None:
        assert event["exception.type"] == cause
        assert f"[{cause}]" in upstream_log(caplog)
    [fetch] = [span for span in trace["spans"] if span["name"] == "department.fetch gas"]
    assert fetch["status"] == "ERROR" and detail in fetch["statusMessage"]


async def test_a_department_that_does_not_answer_in_time_is_named_without_its_internals(
    gas: MockDepartments, caplog: pytest.LogCaptureFixture,
) -> None:
    set_gas_faults(gas, latency_ms=1500)
    caplog.set_level(logging.WARNING)
    async with gateway_with_gas(gas, gas_timeout_s=0.3) as client:
        body = await ask(client, GAS_AND_WATER)
        trace = await trace_of(client, body)
    [error] = body["errors"]
    assert_generic(error, "UPSTREAM_TIMEOUT", "gas", GAS_NAME)
    assert "gas: no answer within 0.3 s" in upstream_log(caplog)
    [event] = exception_events(trace, "department.fetch gas")
    assert event["exception.type"] == "TimeoutError" and event["exception.message"] == "gas: no answer within 0.3 s"


async def test_a_record_field_that_fails_after_the_call_is_generic_and_its_detail_logged_and_traced(
    mock_departments: MockDepartments, caplog: pytest.LogCaptureFixture,
) -> None:
    """Water's class attributes are translated when first read (deferred): the failure surfaces per field, after the
    department call ended, and still reaches the caller only as the generic message."""
    caplog.set_level(logging.WARNING)
    async with (water_with_unreadable_diameters(mock_departments) as water,
                gateway_with_gas(mock_departments, water=water) as client):
        body = await ask(client, """{ components(filter: {classCodes: ["0101"]}, first: 3) {
            nodes { id ... on ManholeCover { diameterMm material } } } }""")
        trace = await trace_of(client, body)
    assert len(body["errors"]) == 6
    for error in body["errors"]:
        assert_generic(error, "UPSTREAM_BAD_RESPONSE", "water", WATER_NAME)
    detail = f"water: unexpected facility attributes: could not convert string to float: '{UNREADABLE_DIAMETER}'"
    [line] = [line for line in upstream_log(caplog).splitlines() if "field(s) failed" in line]
    assert detail in line and "6 field(s)" in line and "[ValueError]" in line
    [event] = exception_events(trace, "graphql.execute")
    assert event["exception.message"] == detail and event["exception.type"] == "ValueError"
    assert event["graphql.field.path"] == "components.nodes.0.diameterMm" and event["yiwang.failures"] == 6


# --- health ---------------------------------------------------------------------------------------------------------
async def test_health_problems_are_generic_in_graphql_and_readyz_and_detailed_in_the_log(
    gas: MockDepartments, caplog: pytest.LogCaptureFixture,
) -> None:
    set_gas_faults(gas, down=True)
    caplog.set_level(logging.WARNING)
    async with gateway_with_gas(gas) as client:
        body = await ask(client, "{ departments { id healthy problem } }")
        ready = await client.get("/readyz")
    health = {d["id"]: d for d in body["data"]["departments"]}
    assert health["gas"]["healthy"] is False
    assert health["gas"]["problem"] == f"the gas department ({GAS_NAME}) is unavailable"
    assert health["water"] == {"id": "water", "healthy": True, "problem": None}
    assert "errors" not in body
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert ready.json()["departments"]["gas"] == {"healthy": False,
                                                  "problem": f"the gas department ({GAS_NAME}) is unavailable"}
    assert not LEAKS.search(ready.text) and not LEAKS.search(orjson.dumps(body).decode())
    log = upstream_log(caplog)
    assert "department gas failed: gas: answered HTTP 502" in log  # the GraphQL check (telemetry)
    assert "department gas is not ready: gas: answered HTTP 502" in log  # /readyz


# --- stale answers --------------------------------------------------------------------------------------------------
async def test_a_stale_answer_keeps_the_failure_out_of_the_response_and_in_the_log_and_trace(
    gas: MockDepartments, caplog: pytest.LogCaptureFixture,
) -> None:
    query = '{ components(filter: {classCodes: ["0135"], regionCode: "370811"}, first: 3) { nodes { id } } }'
    clock = ManualClock()
    async with gateway_with_gas(gas, clock=clock, cache_enabled=True,
                                cache_ttls='{"gas.registry": 60, "gas.readings": 60}') as client:
        fresh = await ask(client, query)
        clock.advance(61)
        set_gas_faults(gas, garbled="headers")
        caplog.set_level(logging.WARNING)
        stale = await ask(client, query)
        trace = await trace_of(client, stale)
    assert "errors" not in stale and stale["data"] == fresh["data"]
    assert [entry["department"] for entry in stale["extensions"]["stale"]] == ["gas"]
    assert "X-Total-Count" not in orjson.dumps(stale).decode()
    detail = "gas: unexpected page: the answer has no X-Total-Count header"
    assert any(detail in record.getMessage() and "serving its answer" in record.getMessage()
               for record in caplog.records)
    assert [event["exception.message"] for event in exception_events(trace, "department.fetch gas")] == [detail]


# --- the dry run: the department's operator sees what is wrong --------------------------------------------------------
async def test_the_dry_run_shows_the_operator_what_the_department_answered_wrong_without_python_internals(
    gas: MockDepartments,
) -> None:
    spec = (SPECS / "gas.yaml").read_text(encoding="utf-8").replace("http://127.0.0.1:9106", gas_url(gas))
    operator = bearer("MUNICIPAL", "370800", "department_operator", departments=["gas"])
    async with gateway_with_gas(gas) as client:
        async def dry_run() -> dict[str, Any]:
            response = await client.post("/admin/connectors/test", content=spec.encode(),
                                         headers={**operator, "content-type": "application/yaml"})
            assert response.status_code == 200, response.text
            report: dict[str, Any] = response.json()
            return report

        set_gas_faults(gas, garbled="headers")
        headers = await dry_run()
        set_gas_faults(gas, down=True)
        down = await dry_run()
    steps = {step["step"]: step for step in headers["steps"]}
    assert steps["reach"]["ok"] is True
    fetch = steps["authenticate and fetch a sample"]
    assert fetch == {"step": "authenticate and fetch a sample", "ok": False,
                     "detail": "gas: unexpected page: the answer has no X-Total-Count header"}
    [reach] = down["steps"]
    assert reach["ok"] is False and reach["detail"].startswith("gas: answered HTTP 502: <html>")
    for report in (headers, down):
        text = orjson.dumps(report).decode()
        assert not re.search(r"Traceback|\b[A-Z]\w*(Error|Exception)\b|gas-demo-key", text), text


# --- over the wire: a registered spec on a served gateway ---------------------------------------------------------
def test_a_registered_department_answering_garbage_on_a_served_gateway(gas: MockDepartments, tmp_path: Path) -> None:
    env = registry_env(tmp_path)
    spec = (SPECS / "gas.yaml").read_text(encoding="utf-8").replace("http://127.0.0.1:9106", gas_url(gas))
    admin = bearer(*ADMIN)
    with served_gateway(gas, tmp_path, env) as served:
        registered = httpx.post(f"{served.url}/admin/connectors", content=spec.encode(), timeout=30,
                                headers={**admin, "content-type": "application/yaml"})
        assert registered.status_code == 201, registered.text
        set_gas_faults(gas, garbled="values")
        response = served.post({"query": GAS_AND_WATER}, headers=bearer(*NATIONAL_VIEWER))
        body = response.json()
        trace = served_trace(served.url, body["extensions"]["traceId"], admin)
        log = served.log_text()
    [error] = body["errors"]
    assert_generic(error, "UPSTREAM_BAD_RESPONSE", "gas", GAS_NAME)
    assert "'42'" not in response.text and "ValueError" not in response.text
    detail = "status: value '42' is not in the spec's values (ZC, SH, DS, ZY, FQ)"
    assert detail in log and "[ValueError]" in log
    [event] = exception_events(trace, "department.fetch gas")
    assert detail in event["exception.message"] and event["exception.type"] == "ValueError"


def served_trace(url: str, trace_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """The trace once stored: the served gateway ends the request's root span just after the answer is sent."""
    deadline = time.monotonic() + 5
    while True:
        response = httpx.get(f"{url}/admin/traces/{trace_id}", headers=headers, timeout=30)
        if response.status_code == 200 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            trace: dict[str, Any] = response.json()
            return trace
        time.sleep(0.1)


# --- the error itself -----------------------------------------------------------------------------------------------
def test_an_upstream_error_keeps_its_detail_for_logs_and_shows_callers_the_generic_message() -> None:
    headers: dict[str, str] = {}
    try:
        try:
            headers["X-Total-Count"]
        except KeyError as exc:
            raise UpstreamBadResponse("gas", "gas: unexpected page: 'X-Total-Count' is missing") from exc
    except UpstreamBadResponse as error:
        assert error.message == "the gas department answered with data the gateway could not read"
        error.name_department("燃气")
        assert error.message == "the gas department (燃气) answered with data the gateway could not read"
        assert str(error) == error.detail == "gas: unexpected page: 'X-Total-Count' is missing"
        assert error.cause_name() == "KeyError"
        assert error.to_extensions() == {"code": "UPSTREAM_BAD_RESPONSE", "department": "gas"}
    unreachable = UpstreamUnavailable("gas", "gas: unreachable: http://user:s3cret@gas.example/x refused")
    assert "s3cret" not in unreachable.detail and "http://gas.example/x" in unreachable.detail
    assert unreachable.cause_name() == "connectors.errors.UpstreamUnavailable"


# --- cursors -------------------------------------------------------------------------------------------------------
async def test_cursors_do_not_show_the_departments_positions(gas: MockDepartments) -> None:
    """The gas company pages by Link header: its next-page URL is the position the cursor carries, sealed."""
    query = """query Gas($after: String) { components(filter: {classCodes: ["0135"]}, first: 3, after: $after) {
               edges { cursor node { id } } pageInfo { endCursor hasNextPage } } }"""
    async with gateway_with_gas(gas) as client:
        first = await ask(client, query)
        page = first["data"]["components"]
        assert page["pageInfo"]["hasNextPage"]
        cursors = [page["pageInfo"]["endCursor"], *(edge["cursor"] for edge in page["edges"])]
        for cursor in cursors:
            opened = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            assert b"127.0.0.1" not in opened and b"http" not in opened and b'"p"' not in opened, opened
            assert str(gas.base_port + GAS_PORT_OFFSET) not in opened.decode("latin-1")
        second = await client.post("/graphql", json={"query": query,
                                                     "variables": {"after": page["pageInfo"]["endCursor"]}})
        ids = [edge["node"]["id"] for edge in second.json()["data"]["components"]["edges"]]
        assert ids and ids[0] > page["edges"][-1]["node"]["id"]  # the sealed cursor still resumes the walk
        end = page["pageInfo"]["endCursor"]
        tampered = end[:-2] + ("AA" if not end.endswith("AA") else "BB")
        refused = await client.post("/graphql", json={"query": query, "variables": {"after": tampered}})
        [error] = refused.json()["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "after"}
