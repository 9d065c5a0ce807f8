"""The fast list completion gives exactly what graphql-core's general executor gives, for the selections it plans
and for those it hands back."""

from __future__ import annotations

import math
from typing import Any

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from gateway.app import GatewaySchema
from gateway.context import RequestContext
from gateway.departments import build_connectors
from gateway.execution import FastListExecutionContext
from gateway.pagination import CursorCodec
from schema.build import build_schema
from tests.conftest import MockDepartments, gateway_settings

PLANNED, HANDED_BACK = True, False
QUERIES = [
    # interface list with fragments, aliases, __typename, nested objects, enums, dates, lists of strings
    ("""{ components(filter: {regionCode: "370811", classCodes: ["0113", "0203", "0308", "0602", "2150"]},
          first: 300) { totalCount nodes { __typename id nm: name status updatedAt location { type coordinates lng }
          componentClass { code name } owner { name creditCode }
          ... on Hydrant { pressureMpa readingAt } ... on BusStop { routes hasShelter }
          ... on AirQualityStation { aqi aqiCategory hourly { at aqi pm25 } }
          ... on ConstructionSite { contractor { name } startDate }
          ... Building } } }
        fragment Building on Building { floors heightM usage }""", {}, PLANNED),
    # @include / @skip driven by variables
    ("""query($withName: Boolean!, $skipGrid: Boolean!) { components(filter: {classCodes: ["0201"]}, first: 50) {
          nodes { id name @include(if: $withName) gridCode @skip(if: $skipGrid) } } }""",
     {"withName": False, "skipGrid": True}, PLANNED),
    # edges with cursors and a resolver field (component) inside list items: handed back to graphql-core
    ("""{ events(first: 40) { edges { cursor node { id status eventClass { kind code }
          component { __typename id } } } } }""", {}, HANDED_BACK),
    # nullable fields that are null, alerts list
    ("""{ alerts(first: 60) { nodes { id metric value unit level raisedAt department } } }""", {}, PLANNED),
]


async def _execute(mocks: MockDepartments, context_class: type[Any], query: str, variables: dict[str, Any]
                   ) -> tuple[dict[str, Any], int]:
    fields_executed = 0

    class Counting(context_class):  # type: ignore[valid-type,misc]
        def execute_field(self, *args: Any) -> Any:
            nonlocal fields_executed
            fields_executed += 1
            return super().execute_field(*args)

    schema = build_schema(schema_class=GatewaySchema, execution_context_class=Counting)
    connectors = build_connectors(gateway_settings(mocks))
    try:
        result = await schema.execute(query, variable_values=variables,
                                      context_value=RequestContext(connectors, CursorCodec(b"k" * 32)))
    finally:
        await connectors.aclose()
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data, fields_executed


@pytest.mark.parametrize(("query", "variables", "planned"), QUERIES)
async def test_fast_path_equals_general_executor(mock_departments: MockDepartments, query: str,
                                                 variables: dict[str, Any], planned: bool) -> None:
    fast, fast_fields = await _execute(mock_departments, FastListExecutionContext, query, variables)
    general, general_fields = await _execute(mock_departments, StrawberryGraphQLCoreExecutionContext, query,
                                             variables)
    assert fast == general
    if planned:
        assert fast_fields < 5 < 40 < general_fields, (fast_fields, general_fields)
    else:
        assert fast_fields == general_fields
    assert list(_keys(fast)) == list(_keys(general))  # same key order in every object


def _keys(value: Any) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


# --- values the inline checks of compiled completers must not pass through ---------------------------------------
@strawberry.type
class Reading:
    label: str
    count: int | None
    level: float | None
    ok: bool | None


@strawberry.type
class Readings:
    @strawberry.field
    def items(self) -> list[Reading]:
        return list(READINGS)


READINGS: list[Reading] = []


def _readings_schema(context_class: type[Any]) -> strawberry.Schema:
    return strawberry.Schema(query=Readings, execution_context_class=context_class)


@pytest.mark.parametrize(("value_field", "bad_value", "message"), [
    ("count", 2**31, "Int cannot represent non 32-bit signed integer value"),
    ("count", 1.5, "Int cannot represent non-integer value"),
    ("level", math.nan, "Float cannot represent non numeric value"),
    ("level", math.inf, "Float cannot represent non numeric value"),
    ("ok", 1, None),  # Boolean serialises 1 as true: the serializer is called, not passed through
])
def test_values_outside_the_inline_checks_get_what_the_general_executor_gives(
        value_field: str, bad_value: Any, message: str | None) -> None:
    READINGS[:] = [Reading(label=f"r{i}", count=i, level=i / 2, ok=i % 2 == 0) for i in range(20)]
    setattr(READINGS[13], value_field, bad_value)
    query = "{ items { label count level ok } }"
    try:
        fast = _readings_schema(FastListExecutionContext).execute_sync(query)
        general = _readings_schema(StrawberryGraphQLCoreExecutionContext).execute_sync(query)
    finally:
        READINGS.clear()
    assert fast.data == general.data
    assert [(e.message, e.path) for e in fast.errors or ()] == [(e.message, e.path) for e in general.errors or ()]
    if message is None:
        assert fast.errors is None and fast.data is not None
        assert fast.data["items"][13]["ok"] is True
    else:
        assert fast.errors is not None and message in fast.errors[0].message
        assert fast.errors[0].path == ["items", 13, value_field]


def test_in_range_values_are_completed_without_the_general_executor() -> None:
    READINGS[:] = [Reading(label=f"r{i}", count=-(2**31) + i, level=-1e308, ok=None) for i in range(20)]
    executed = 0

    class Counting(FastListExecutionContext):
        def execute_field(self, *args: Any) -> Any:
            nonlocal executed
            executed += 1
            return super().execute_field(*args)

    try:
        result = _readings_schema(Counting).execute_sync("{ items { label count level ok } }")
    finally:
        READINGS.clear()
    assert result.errors is None and result.data is not None
    assert result.data["items"][5] == {"label": "r5", "count": -(2**31) + 5, "level": -1e308, "ok": None}
    assert executed == 1  # only the root field


def test_a_repeated_query_compiles_no_completer_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway import execution

    compiled: list[str] = []

    def counting_compile(source: str, filename: str, mode: str) -> Any:
        compiled.append(filename)
        return compile(source, filename, mode)

    monkeypatch.setattr(execution, "compile", counting_compile, raising=False)
    execution._compiled.cache_clear()  # so that earlier tests' completers do not count
    READINGS[:] = [Reading(label=f"r{i}", count=i, level=None, ok=True) for i in range(20)]
    schema = _readings_schema(FastListExecutionContext)
    try:
        first = schema.execute_sync("{ items { label count } }")
        again = schema.execute_sync("{ items { label count } }")
        other = schema.execute_sync("{ items { ok label } }")
    finally:
        READINGS.clear()
    assert first.data == again.data and first.errors is None and other.errors is None
    assert compiled == ["<completer Reading Reading>"] * 2  # the first query, then the other selection


def test_lists_handed_to_the_general_executor_are_counted() -> None:
    from gateway.fallbacks import FALLBACKS

    schema = _readings_schema(FastListExecutionContext)
    query = "{ items { label count } }"
    unplannable, failed = FALLBACKS.value("lists", "unplannable"), FALLBACKS.value("lists", "error")
    READINGS[:] = [Reading(label=f"r{i}", count=i, level=None, ok=None) for i in range(20)]
    try:
        assert schema.execute_sync(query).errors is None
        assert (FALLBACKS.value("lists", "unplannable"), FALLBACKS.value("lists", "error")) == (unplannable, failed)
        READINGS[4].label = None  # type: ignore[assignment]  # a null in a non-null position
        assert schema.execute_sync(query).errors is not None
        assert FALLBACKS.value("lists", "unplannable") == unplannable + 1
        READINGS[4].label, READINGS[7].count = "r4", 2**31  # a value its serializer refuses
        assert schema.execute_sync(query).errors is not None
        assert FALLBACKS.value("lists", "error") == failed + 1
    finally:
        READINGS.clear()
