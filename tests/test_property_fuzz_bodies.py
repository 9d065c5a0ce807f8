"""Property fuzzing of a live gateway with request bodies of every shape and raw bytes: whatever is sent, the
answer is a well-formed GraphQL response (see tests/test_property_fuzz.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz_harness import (
    NATIONAL_VIEWER,
    Fuzzer,
    check_answer,
    failed,
    fixture_fuzzer,  # noqa: F401 (the pytest fixture fuzzer)
    fuzzed,
    post,
    record,
)
from tests.fuzz_queries import ACCEPTS, OPERATION_NAME

# The request around the query: each member of the right type or of any other, or no JSON object at all.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8)
GOOD_QUERIES = ("{ viewer { tier regionCode } }", "{ departments { id healthy } }", "{ __typename }", "{", "",
                "query Fuzz($first: Int!) { components(first: $first) { totalCount } }")
ENVELOPES = st.fixed_dictionaries({}, optional={
    "query": st.sampled_from(GOOD_QUERIES) | st.text() | JSON_VALUES,
    "variables": st.none() | st.dictionaries(st.sampled_from(("first", "x")), JSON_VALUES, max_size=2) | JSON_VALUES,
    "operationName": st.none() | st.sampled_from((OPERATION_NAME, "Other", "")) | JSON_VALUES,
    "extensions": st.none() | st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=2) | JSON_VALUES,
})


def well_formed(body: Any) -> bool:
    """A GraphQL-over-HTTP request: an object with a string query and members of the types the spec gives them."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return False
    types = {"variables": dict, "operationName": str, "extensions": dict}
    return all(body.get(member) is None or isinstance(body[member], kind) for member, kind in types.items())


@fuzzed(5)
@given(body=st.one_of(ENVELOPES, JSON_VALUES), accept=st.sampled_from(ACCEPTS))
@example(body=None, accept=None)
@example(body={"query": "{ __typename }", "operationName": [OPERATION_NAME]}, accept=None)
@example(body={"query": "{ __typename }", "variables": {"x": 2**64}}, accept=None)  # beyond any 64-bit integer
def test_any_request_body_gets_a_well_formed_answer(fuzzer: Fuzzer, body: Any, accept: str | None) -> None:
    headers = {**fuzzer.headers[NATIONAL_VIEWER], "content-type": "application/json"}
    if accept is not None:
        headers["accept"] = accept
    response = post(fuzzer, headers, json.dumps(body).encode())
    record(well_formed(body), response)
    try:
        check_answer(response, rejected=not well_formed(body))
        if not well_formed(body):
            assert response.status_code == 400, response.text  # malformed request: 400, as for a JSON parse error
    except AssertionError:
        failed(fuzzer)
        raise


@fuzzed(6)
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
@example(content=b'{"query": "{ __typename }"}\xff')  # not UTF-8
def test_any_bytes_get_a_well_formed_answer(fuzzer: Fuzzer, content: bytes) -> None:
    headers = {**fuzzer.headers[NATIONAL_VIEWER], "content-type": "application/json"}
    response = post(fuzzer, headers, content)
    try:
        parsed: Any = json.loads(content)
    except ValueError:
        parsed = None
    record(well_formed(parsed), response)
    try:
        check_answer(response, rejected=not well_formed(parsed))
        if not well_formed(parsed):
            assert response.status_code == 400, response.text
    except AssertionError:
        failed(fuzzer)
        raise
