"""The plugin hooks: ``on_upstream_fetch`` sees every department call with its arguments and the caller's scope,
can answer without the department, and plugins nest in order."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.calls import SearchComponents
from gateway.app import create_app
from gateway.plugins import Plugin, Proceed, UpstreamFetch
from tests.conftest import NATIONAL_VIEWER, MockDepartments, bearer, gateway_settings, graphql


class Recorder(Plugin):
    def __init__(self, log: list[str], label: str) -> None:
        self.log = log
        self.label = label
        self.fetches: list[UpstreamFetch] = []

    async def on_upstream_fetch(self, fetch: UpstreamFetch, proceed: Proceed) -> Any:
        self.fetches.append(fetch)
        self.log.append(f"{self.label}>{fetch.department}")
        try:
            return await proceed()
        finally:
            self.log.append(f"{self.label}<{fetch.department}")


class AnswersTransport(Plugin):
    """Answers transport searches from memory: the department is never asked."""

    def __init__(self) -> None:
        self.remembered: dict[Any, Any] = {}

    async def on_upstream_fetch(self, fetch: UpstreamFetch, proceed: Proceed) -> Any:
        key = (fetch.department, fetch.call, fetch.scope_key)
        if key not in self.remembered:
            self.remembered[key] = await proceed()
        return self.remembered[key]


async def test_plugins_wrap_every_department_call_in_order(mock_departments: MockDepartments) -> None:
    log: list[str] = []
    outer, inner, memory = Recorder(log, "outer"), Recorder(log, "inner"), AnswersTransport()
    app = create_app(gateway_settings(mock_departments), plugins=[outer, inner, memory])
    query = '{ components(filter: {classCodes: ["0203"], regionCode: "370811"}, first: 5) { nodes { id } } }'
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                 headers=bearer(*NATIONAL_VIEWER)) as client:
        before = mock_departments.total("transport")
        first = await graphql(client, query)
        second = await graphql(client, query)
    await app.state.connector_source.aclose()
    assert first == second and len(first["data"]["components"]["nodes"]) == 5
    assert mock_departments.total("transport") - before == 1  # the second answer came from the plugin
    assert log == ["outer>transport", "inner>transport", "inner<transport", "outer<transport"] * 2
    fetch = outer.fetches[0]
    assert isinstance(fetch.call, SearchComponents) and fetch.call.name == "search_components"
    assert fetch.call.query.region_codes == ("370811",)
    assert fetch.scope_key == ("", False, None)
