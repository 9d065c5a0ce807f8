"""Component objects read their fields from the record when selected: every field of every component type answers
exactly what the eagerly built objects answer, through the general executor and the fast list completion."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from connectors.records import ComponentRecord
from gateway.app import GatewaySchema, create_app
from gateway.context import RequestContext
from gateway.departments import build_connectors
from gateway.execution import FastListExecutionContext
from gateway.pagination import CursorCodec
from gateway.router import ConnectorSet
from schema import components, query
from schema.build import build_schema
from tests.conftest import NATIONAL_VIEWER, MockDepartments, bearer, gateway_settings, graphql
from tests.served import water_with_unreadable_diameters

CLASSES = ("0101", "0113", "2141", "2142", "2143", "0201", "0203", "0210", "0308", "0602", "2150")
FIELDS = """totalCount nodes {
    __typename id name status regionCode gridCode department authority updatedAt
    componentClass { code name majorCode majorName } location { type coordinates lng lat crs }
    owner { name creditCode } maintainer { name creditCode }
    ... on ManholeCover { material shape diameterMm }
    ... on Hydrant { hydrantType outletDiameterMm pressureMpa readingAt }
    ... on WaterPressurePoint { pipeDiameterMm pressureMpa flowM3h readingAt }
    ... on WaterQualityStation { turbidityNtu ph residualChlorineMgl readingAt }
    ... on FloodingPoint { warningDepthCm pondingDepthCm waterLevelM rainfallMm readingAt }
    ... on BusStop { routes hasShelter }
    ... on TrafficSignal { intersection controlMode phaseCount online }
    ... on ParkingLot { capacity availableSpaces feePerHourYuan readingAt }
    ... on AirQualityStation { aqi aqiCategory pm25 pm10 so2 no2 o3 co readingAt hourly { at aqi pm25 pm10 } }
    ... on ConstructionSite { permitNumber contractor { name creditCode } startDate plannedEndDate pm10 noiseDb
                              readingAt }
    ... on Building { address floors heightM yearBuilt structure usage }
    ... on GenericComponent { attributes } }"""
EVERY_FIELD = "{ " + " ".join(f'c{code}: components(filter: {{classCodes: ["{code}"]}}, first: 30) {{ {FIELDS} }}'
                              for code in CLASSES) + " }"


async def _answer(mocks: MockDepartments, execution_context: type[Any]) -> dict[str, Any]:
    schema = build_schema(schema_class=GatewaySchema, execution_context_class=execution_context)
    connectors = build_connectors(gateway_settings(mocks))
    try:
        result = await schema.execute(EVERY_FIELD, context_value=RequestContext(connectors, CursorCodec(b"k" * 32)))
    finally:
        await connectors.aclose()
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


@pytest.mark.parametrize("execution_context", [FastListExecutionContext, StrawberryGraphQLCoreExecutionContext])
async def test_deferred_objects_answer_what_eager_objects_answer(
        mock_departments: MockDepartments, monkeypatch: pytest.MonkeyPatch, execution_context: type[Any]) -> None:
    deferred = await _answer(mock_departments, execution_context)
    monkeypatch.setattr(query, "build_component", components.build_component_eagerly)
    eager = await _answer(mock_departments, execution_context)
    types = {node["__typename"] for answer in deferred.values() for node in answer["nodes"]}
    assert len(types) == len(CLASSES)  # every concrete type
    assert deferred == eager


def test_a_deferred_object_is_its_graphql_type_and_equals_the_eager_one(inventory: Any) -> None:
    from connectors.water import to_record
    from mocks.water import FacilityRenderer

    component = inventory.select("water", class_codes=["0113"]).slice(0, 1)[0]
    record = to_record(FacilityRenderer(inventory).render(component))
    deferred, eager = components.build_component(record), components.build_component_eagerly(record)
    assert isinstance(deferred, components.Hydrant)
    assert _values(deferred) == _values(eager)
    assert deferred.location.lng == record.lng and deferred.pressure_mpa == record.attributes["pressure_mpa"]
    with pytest.raises(AttributeError):
        deferred.no_such_field  # noqa: B018
    plain = ComponentRecord(**{f.name: getattr(record, f.name) for f in dataclasses.fields(record)})
    assert plain == record and record == plain
    generic = dataclasses.replace(plain, class_code="0135", attributes={"leak_sensor": True})
    assert isinstance(components.build_component(generic), components.GenericComponent)
    assert _values(components.build_component(generic)) == _values(components.build_component_eagerly(generic))


def _values(component: Any) -> dict[str, Any]:
    """The data fields of a component object (the resolver fields, events and alerts, are methods)."""
    names = [f.name for f in dataclasses.fields(component) if f.name not in ("events", "alerts")]
    assert len(names) > 12
    return {name: getattr(component, name) for name in names}


async def test_a_bad_class_attribute_fails_only_its_field(mock_departments: MockDepartments) -> None:
    """A department row whose diameter is not a number: the components still come back, their class attributes (one
    unit of translation) are null with UPSTREAM_BAD_RESPONSE errors naming water at their paths, and a query not
    selecting them sees no error."""
    async with water_with_unreadable_diameters(mock_departments) as connector:
        app = create_app(gateway_settings(mock_departments), connectors=ConnectorSet([connector]))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                     headers=bearer(*NATIONAL_VIEWER)) as client:
            selected = await graphql(client, """{ components(filter: {classCodes: ["0101"]}, first: 12) {
                nodes { id location { lng } ... on ManholeCover { diameterMm material } } } }""")
            unselected = await graphql(client, """{ components(filter: {classCodes: ["0101"]}, first: 12) {
                nodes { id name location { lng } } } }""")
    nodes = selected["data"]["components"]["nodes"]
    assert len(nodes) == 12
    assert all(node["diameterMm"] is None and node["material"] is None and node["location"]["lng"] > 116
               for node in nodes)
    assert len(selected["errors"]) == 24
    paths = {tuple(error["path"]) for error in selected["errors"]}
    assert paths == {("components", "nodes", index, name) for index in range(12) for name in ("diameterMm",
                                                                                                "material")}
    for error in selected["errors"]:
        assert error["extensions"]["code"] == "UPSTREAM_BAD_RESPONSE"
        assert error["extensions"]["department"] == "water"
    assert "errors" not in unselected
    assert [n["id"] for n in unselected["data"]["components"]["nodes"]] == [n["id"] for n in nodes]
