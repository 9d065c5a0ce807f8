"""Requests as an outsider sends them, to ``yiwang serve`` on real uvicorn: malformed bodies and fields of the wrong
JSON type (400, never a 500 or a dropped connection, and nothing left behind for later requests), GraphQL over HTTP
media types and status codes, one refused root field leaving the others' data, and bounded, protectable metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MockDepartments, bearer
from tests.served import ServedGateway, served_gateway

DISTRICT_VIEWER = bearer("DISTRICT", "370811", "viewer")
MAX_OPERATION_NAMES = 10
METRICS_TOKEN = "metrics-token-0123456789"
WRONG_TYPES: list[Any] = [{"an": "object"}, ["an", "array"], 42, 4.5, True]
PYTHON_TEXT = ("Traceback", "Error:", "object has no attribute", "KeyError", "TypeError", ".py")


@pytest.fixture(scope="module")
def served(mock_departments: MockDepartments, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGateway]:
    env = {"YIWANG_ANONYMOUS": "public", "YIWANG_METRICS_MAX_OPERATIONS": str(MAX_OPERATION_NAMES),
           "YIWANG_METRICS_OPERATIONS": "Dashboard"}
    with served_gateway(mock_departments, tmp_path_factory.mktemp("edge"), env) as gateway:
        yield gateway


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    [error] = body["errors"]
    assert not any(text in error["message"] for text in PYTHON_TEXT), error
    return dict(error)


def _metrics_ok(served: ServedGateway) -> str:
    response = served.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


# --- malformed requests ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"null", b"42", b'"s"', b"true", b"[]", b'[{"query": "{ viewer { tier } }"}]'])
def test_a_body_that_is_not_a_json_object_is_a_400(served: ServedGateway, body: bytes) -> None:
    response = served.post(content=body, headers=DISTRICT_VIEWER)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = _error(response)
    assert error["extensions"]["code"] == "BAD_REQUEST" and "JSON object" in error["message"]


@pytest.mark.parametrize("field", ["query", "operationName", "variables", "extensions"])
@pytest.mark.parametrize("value", WRONG_TYPES)
def test_every_request_field_of_the_wrong_json_type_is_a_400_naming_it(served: ServedGateway, field: str,
                                                                      value: Any) -> None:
    if field in ("variables", "extensions") and isinstance(value, dict):
        value = "a string"
    body = {"query": "query Q { viewer { tier } }", field: value}
    response = served.post(body, headers=DISTRICT_VIEWER)
    assert response.status_code == 400, response.text
    error = _error(response)
    assert error["extensions"] == {"code": "BAD_REQUEST", "field": field}
    assert f"`{field}`" in error["message"]


@pytest.mark.parametrize(("parameters", "field"), [
    ({"query": "{ viewer { tier } }", "variables": "42"}, "variables"),
    ({"query": "{ viewer { tier } }", "variables": "[1, 2]"}, "variables"),
    ({"query": "{ viewer { tier } }", "variables": '"text"'}, "variables"),
    ({"query": "{ viewer { tier } }", "extensions": "true"}, "extensions"),
    ({"query": "{ viewer { tier } }", "extensions": "[]"}, "extensions"),
    ({"query": "{ viewer { tier } }", "variables": "{not json"}, None),
])
def test_get_parameters_of_the_wrong_type_are_a_400(served: ServedGateway, parameters: dict[str, str],
                                                   field: str | None) -> None:
    response = served.get("/graphql", params=parameters, headers={**DISTRICT_VIEWER, "x-yiwang-csrf": "1"})
    assert response.status_code == 400, response.text
    error = _error(response)
    assert error["extensions"]["code"] == "BAD_REQUEST"
    if field is not None:
        assert error["extensions"]["field"] == field


def test_missing_or_empty_bodies_and_other_media_types_are_refused(served: ServedGateway) -> None:
    assert served.post(content=b"", headers=DISTRICT_VIEWER).status_code == 400
    assert served.post(content=b"   ", headers=DISTRICT_VIEWER).status_code == 400
    assert served.post({"notquery": "{ viewer { tier } }"}, headers=DISTRICT_VIEWER).status_code == 400
    latin = served.post({"query": "{ viewer { tier } }"},
                        headers={**DISTRICT_VIEWER, "content-type": "application/json; charset=latin-1"})
    assert latin.status_code == 415 and _error(latin)["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    text = served.post(content=b"{ viewer { tier } }",
                       headers={**DISTRICT_VIEWER, "content-type": "text/plain", "x-yiwang-csrf": "1"})
    assert text.status_code == 415


def test_no_request_changes_how_later_requests_or_metrics_behave(served: ServedGateway) -> None:
    poison: list[dict[str, Any]] = [
        {"query": "query Q { viewer { tier } }", "operationName": 5},
        {"query": "query Q { viewer { tier } }", "operationName": {"a": 1}},
        {"query": "query Q { viewer { tier } }", "operationName": ["Q"]},
        {"query": "query Q { viewer { tier } }", "operationName": "Nope"},
        {"query": "query Q { viewer { tier } }", "operationName": "x" * 5000},
        {"query": "query Q { viewer { tier } }", "operationName": 'a"b\\c\nd'},
    ]
    for body in poison:
        response = served.post(body, headers=DISTRICT_VIEWER)
        assert response.status_code in (200, 400), response.text
        assert response.json()["errors"]
    metrics = _metrics_ok(served)
    assert 'operation="5"' not in metrics and "xxxxx" not in metrics and 'operation="Nope"' not in metrics
    assert _metrics_ok(served) == _metrics_ok(served).replace("\0", "")  # renders again, the same way
    good = served.post({"query": "query Q { viewer { tier regionCode } }", "operationName": "Q"},
                       headers=DISTRICT_VIEWER)
    assert good.status_code == 200 and good.json()["data"]["viewer"] == {"tier": "DISTRICT", "regionCode": "370811"}


def test_a_server_side_failure_is_json_and_keeps_the_connection_usable(served: ServedGateway) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:  # one keep-alive connection for all three
        for body in (b"null", b"[1]", b'{"query": 1}'):
            response = client.post("/graphql", content=body,
                                   headers={**DISTRICT_VIEWER, "content-type": "application/json"})
            assert response.status_code == 400 and response.json()["errors"]
        ok = client.post("/graphql", json={"query": "{ viewer { tier } }"}, headers=DISTRICT_VIEWER)
        assert ok.status_code == 200
    assert "Traceback" not in served.log_text()


# --- GraphQL over HTTP: Accept and status codes -------------------------------------------------------------------
RESPONSE_JSON = "application/graphql-response+json"


@pytest.mark.parametrize(("accept", "media_type"), [
    (None, "application/json"),
    ("*/*", "application/json"),
    ("application/json", "application/json"),
    (RESPONSE_JSON, RESPONSE_JSON),
    (f"{RESPONSE_JSON}, application/json;q=0.9", RESPONSE_JSON),
    (f"application/json, {RESPONSE_JSON};q=0.5", "application/json"),
    (f"text/html, {RESPONSE_JSON}", RESPONSE_JSON),
])
def test_the_answer_is_in_the_media_type_the_client_accepts(served: ServedGateway, accept: str | None,
                                                           media_type: str) -> None:
    headers = {**DISTRICT_VIEWER, **({"accept": accept} if accept else {})}
    response = httpx.post(f"{served.url}/graphql", json={"query": "{ viewer { tier } }"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.json() == {"data": {"viewer": {"tier": "DISTRICT"}}, "extensions": response.json()["extensions"]}


def test_a_client_accepting_none_of_our_media_types_gets_406(served: ServedGateway) -> None:
    response = served.post({"query": "{ viewer { tier } }"}, headers={**DISTRICT_VIEWER, "accept": "text/csv"})
    assert response.status_code == 406 and _error(response)["extensions"]["code"] == "NOT_ACCEPTABLE"


@pytest.mark.parametrize(("query", "variables", "code"), [
    ("{ viewer { tier ", None, "GRAPHQL_PARSE_FAILED"),
    ("{ nope }", None, "GRAPHQL_VALIDATION_FAILED"),
    ("query V($first: Int!) { components(first: $first) { totalCount } }", {"first": "ten"}, None),
    ("query V($first: Int!) { components(first: $first) { totalCount } }", {}, None),
])
def test_request_errors_have_no_data_and_are_400_under_graphql_response_json(
        served: ServedGateway, query: str, variables: dict[str, Any] | None, code: str | None) -> None:
    body = {"query": query, "variables": variables}
    legacy = served.post(body, headers={**DISTRICT_VIEWER, "accept": "application/json"})
    modern = served.post(body, headers={**DISTRICT_VIEWER, "accept": RESPONSE_JSON})
    assert legacy.status_code == 200 and modern.status_code == 400
    assert modern.headers["content-type"].startswith(RESPONSE_JSON)
    for response in (legacy, modern):
        answer = response.json()
        assert "data" not in answer and answer["errors"]
        assert all(e["extensions"]["code"] for e in answer["errors"])
        if code is not None:
            assert answer["errors"][0]["extensions"]["code"] == code


def test_a_field_error_is_not_a_request_error(served: ServedGateway) -> None:
    response = served.post({"query": '{ component(id: "bad") { id } viewer { tier } }'},
                           headers={**DISTRICT_VIEWER, "accept": RESPONSE_JSON})
    assert response.status_code == 200
    answer = response.json()
    assert answer["data"] == {"component": None, "viewer": {"tier": "DISTRICT"}}
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT" and answer["errors"][0]["path"]


# --- one bad root field ------------------------------------------------------------------------------------------
def test_a_forbidden_root_field_nulls_only_itself(served: ServedGateway) -> None:
    query = """{ departments { id } components(filter: {regionCode: "110101"}) { totalCount }
                 events(first: 1) { totalCount } }"""
    answer = served.post({"query": query}, headers=DISTRICT_VIEWER).json()
    assert answer["data"]["components"] is None
    assert {d["id"] for d in answer["data"]["departments"]} >= {"water", "citymgmt"}
    assert answer["data"]["events"]["totalCount"] > 0
    [error] = answer["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN" and error["path"] == ["components"]


def test_the_readme_first_query_without_a_token_keeps_the_public_panels(served: ServedGateway) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    query = readme.split("```graphql\n", 1)[1].split("```", 1)[0]
    answer = served.post({"query": query}).json()
    data = answer["data"]
    assert data is not None and len(data["departments"]) == 5  # the panel an anonymous caller may see
    assert data["components"] is None and data["events"] is None and data["alerts"] is None  # non-public classes
    assert {tuple(e["path"]) for e in answer["errors"]} == {("components",), ("events",), ("alerts",)}
    assert {e["extensions"]["code"] for e in answer["errors"]} == {"FORBIDDEN"}
    public = served.post({"query": query.replace('"0113", "0203", "0308", "2150"', '"0308"')}).json()
    assert public["data"]["components"]["totalCount"] > 0  # public classes (bus stops) still answer


def test_every_root_field_is_nullable() -> None:
    from gateway.app import make_schema
    from gateway.auth.policy import load_policy
    from gateway.settings import Settings

    schema = make_schema(Settings(), load_policy(None))
    query_type = schema._schema.query_type
    assert query_type is not None
    non_null = [name for name, field in query_type.fields.items() if str(field.type).endswith("!")]
    assert non_null == []


# --- metrics -----------------------------------------------------------------------------------------------------
def test_operation_names_on_metrics_are_bounded(served: ServedGateway) -> None:
    before = len(_metrics_ok(served))
    for i in range(5 * MAX_OPERATION_NAMES):
        name = f"Flood{i}"
        response = served.post({"query": f"query {name} {{ viewer {{ tier }} }}", "operationName": name},
                               headers=DISTRICT_VIEWER)
        assert response.status_code == 200
    metrics = _metrics_ok(served)
    named = {line.split('operation="', 1)[1].split('"', 1)[0] for line in metrics.splitlines()
             if line.startswith("yiwang_graphql_requests_total{")}
    flood = {name for name in named if name.startswith("Flood")}
    assert 0 < len(flood) <= MAX_OPERATION_NAMES
    assert "other" in named
    assert len(metrics) < before + 40 * 1024
    listed = served.post({"query": "query Dashboard { viewer { tier } }"}, headers=DISTRICT_VIEWER)
    assert listed.status_code == 200
    assert 'operation="Dashboard"' in _metrics_ok(served)  # an operator-listed name always gets its label


def test_metrics_can_require_a_token(mock_departments: MockDepartments, tmp_path: Path) -> None:
    with served_gateway(mock_departments, tmp_path, {"YIWANG_METRICS_TOKEN": METRICS_TOKEN}) as gateway:
        refused = gateway.get("/metrics")
        assert refused.status_code == 401 and _error(refused)["extensions"]["code"] == "UNAUTHENTICATED"
        wrong = gateway.get("/metrics", headers={"authorization": "Bearer not-the-token-at-all"})
        assert wrong.status_code == 401
        jwt = gateway.get("/metrics", headers=DISTRICT_VIEWER)  # a caller's token is not the scraper's
        assert jwt.status_code == 401
        allowed = gateway.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
        assert allowed.status_code == 200 and "yiwang_graphql_requests_total" in allowed.text
