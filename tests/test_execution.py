"""The fast list completion gives exactly what graphql-core's general executor gives, for the selections it plans
and for those it hands back."""

from __future__ import annotations

from typing import Any

import pytest
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
