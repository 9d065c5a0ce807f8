"""A case class is (kind, code), never the code alone (GB/T 30428.2; domain.md §3): the 部件 and 事件 catalogues reuse
4-digit 小类 numbers — 0102 is 污水井盖 as a 部件 and 暴露垃圾 as an 事件. Filters, statistics, deadlines and cache
tags keep the two apart. Everything is driven over HTTP and checked against the mock's ground truth."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from mocks.city import Inventory
from mocks.citymgmt_data import Case, generate_cases
from schema.codes import load_catalogue
from tests.conftest import MockDepartments, bearer, graphql

CATALOGUE = load_catalogue()
EVENTS = """query($classes: [CaseClassInput!], $first: Int!) {
  events(filter: {classes: $classes}, first: $first) {
    totalCount nodes { id reportedAt deadline eventClass { kind code name } } } }"""
STATS = """query($r: String, $from: DateTime!, $to: DateTime!) { stats(regionCode: $r, from: $from, to: $to) {
  regionCode casesTotal casesByClass { kind code count } } }"""
WINDOW = {"from": "2026-08-01T00:00:00+08:00", "to": "2026-11-01T00:00:00+08:00"}
ADMIN = ("NATIONAL", "000000", "platform_admin")
URGENT = timedelta(hours=2)


def truth(inventory: Inventory) -> list[Case]:
    return generate_cases(inventory)


def by_class(cases: list[Case]) -> Counter[tuple[str, str]]:
    return Counter((case.kind, case.class_code) for case in cases)


def error_codes(body: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(e["extensions"]["code"], e["extensions"].get("argument")) for e in body.get("errors", [])]


async def cases_of(gateway: httpx.AsyncClient, *classes: tuple[str, str], first: int = 2000) -> dict[str, Any]:
    body = await graphql(gateway, EVENTS, {"classes": [{"kind": k, "code": c} for k, c in classes],
                                           "first": first})
    assert "errors" not in body, body
    page: dict[str, Any] = body["data"]["events"]
    assert len(page["nodes"]) == page["totalCount"], "the page should hold every match"
    return page


# The codes GB/T 30428.2 gives both a 部件 and an 事件 meaning (domain.md §3).
@pytest.mark.parametrize("code", ["0102", "0103", "0201", "0301", "0304", "0401", "0501"])
async def test_a_class_filter_brings_only_its_own_kind(gateway: httpx.AsyncClient, inventory: Inventory,
                                                       code: str) -> None:
    counts = by_class(truth(inventory))
    component, event = counts["COMPONENT", code], counts["EVENT", code]
    assert component + event > 0, "the mock should hold cases of this code"
    for kind, expected in (("COMPONENT", component), ("EVENT", event)):
        page = await cases_of(gateway, (kind, code))
        assert page["totalCount"] == expected, (kind, code)
        entry = CATALOGUE.component_class(code) if kind == "COMPONENT" else CATALOGUE.event_class(code)
        assert entry is not None
        assert {(n["eventClass"]["kind"], n["eventClass"]["code"], n["eventClass"]["name"])
                for n in page["nodes"]} <= {(kind, code, entry.name)}
    both = await cases_of(gateway, ("COMPONENT", code), ("EVENT", code))
    assert both["totalCount"] == component + event


async def test_manhole_covers_and_exposed_garbage_both_occur(gateway: httpx.AsyncClient, inventory: Inventory
                                                             ) -> None:
    """The colliding pair the issue names is in the data, so mixing them would show."""
    counts = by_class(truth(inventory))
    assert counts["COMPONENT", "0102"] > 0 and counts["EVENT", "0102"] > 0
    sewer = await cases_of(gateway, ("COMPONENT", "0102"))
    garbage = await cases_of(gateway, ("EVENT", "0102"))
    assert {n["eventClass"]["name"] for n in sewer["nodes"]} == {"污水井盖"}
    assert {n["eventClass"]["name"] for n in garbage["nodes"]} == {"暴露垃圾"}
    assert not {n["id"] for n in sewer["nodes"]} & {n["id"] for n in garbage["nodes"]}


@pytest.mark.parametrize(("classes", "fragment"), [
    ([{"kind": "EVENT", "code": "0113"}], "kind COMPONENT"),  # 消火栓 is a 部件 class only
    ([{"kind": "COMPONENT", "code": "0505"}], "kind EVENT"),  # 机动车乱停放 is an 事件 class only
    ([{"kind": "COMPONENT", "code": "9999"}], "not a 部件小类"),
    ([{"kind": "EVENT", "code": "３７０８"}], "not an 事件小类"),
    ([{"kind": "EVENT", "code": "0102"}, {"kind": "EVENT", "code": "0102"}], "more than once"),
    ([{"kind": "EVENT", "code": "0102"}] * 501, "at most 500"),
])
async def test_a_class_outside_its_catalogue_is_bad_user_input(gateway: httpx.AsyncClient,
                                                              classes: list[dict[str, str]], fragment: str) -> None:
    body = await graphql(gateway, EVENTS, {"classes": classes, "first": 1})
    assert error_codes(body) == [("BAD_USER_INPUT", "classes")]
    assert fragment in body["errors"][0]["message"]
    assert body["data"] == {"events": None}


async def test_a_code_without_its_kind_is_not_accepted(gateway: httpx.AsyncClient) -> None:
    body = await graphql(gateway, '{ events(filter: {classCodes: ["0102"]}) { totalCount } }')
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    body = await graphql(gateway, '{ events(filter: {classes: [{code: "0102"}]}) { totalCount } }')
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]


# 处置时限 for normal urgency, restated: 部件 0101-0103 open manholes 1 day, 部件 大类 02 道路交通 3 days; 事件 大类 01
# 市容环境 2 days, 事件 0201 非法小广告 2 days, 事件 0401 路面塌陷 1 day. The codes are shared, the rules are not.
DEADLINES = [("COMPONENT", "0102", 1), ("EVENT", "0102", 2), ("COMPONENT", "0103", 1), ("EVENT", "0103", 2),
             ("COMPONENT", "0201", 3), ("EVENT", "0201", 2), ("EVENT", "0401", 1)]


@pytest.mark.parametrize(("kind", "code", "days"), DEADLINES)
async def test_deadline_rules_follow_the_kind_of_the_class(gateway: httpx.AsyncClient, kind: str, code: str,
                                                           days: int) -> None:
    page = await cases_of(gateway, (kind, code))
    limits = {datetime.fromisoformat(n["deadline"]) - datetime.fromisoformat(n["reportedAt"])
              for n in page["nodes"] if n["deadline"] is not None}
    assert limits - {URGENT} == {timedelta(days=days)}, (kind, code)


async def test_statistics_count_each_kind_apart(gateway: httpx.AsyncClient, inventory: Inventory) -> None:
    start, end = (datetime.fromisoformat(WINDOW[k]) for k in ("from", "to"))
    cases = [c for c in truth(inventory) if start <= c.reported_at <= end]
    expected = by_class(cases)
    body = await graphql(gateway, STATS, {"r": None, **WINDOW})
    assert "errors" not in body, body
    stats = body["data"]["stats"]
    got = {(e["kind"], e["code"]): e["count"] for e in stats["casesByClass"]}
    assert len(got) == len(stats["casesByClass"]), "one entry per (kind, code)"
    assert got == dict(expected)
    assert got["COMPONENT", "0102"] and got["EVENT", "0102"]
    assert sum(got.values()) == stats["casesTotal"] == len(cases)
    national = await graphql(gateway, STATS, {"r": "000000", **WINDOW})
    assert "errors" not in national, national
    assert national["data"]["stats"] == stats, "000000 is the whole country, as no region at all"


async def test_cache_tags_name_the_kind(gateway_app: Starlette, gateway: httpx.AsyncClient,
                                        mock_departments: MockDepartments) -> None:
    """``class:EVENT:0102`` drops cached 暴露垃圾 cases; ``class:COMPONENT:0102`` and ``class:0102`` (the 部件小类)
    leave them cached."""
    async def asked_department() -> bool:
        before = mock_departments.total("citymgmt")
        await cases_of(gateway, ("EVENT", "0102"))
        return mock_departments.total("citymgmt") > before

    async def invalidate(*tags: str) -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway_app), base_url="http://gateway",
                                     headers=bearer(*ADMIN)) as admin:
            response = await admin.post("/admin/cache/invalidate", json={"tags": list(tags)})
        assert response.status_code == 200, response.text

    assert await asked_department()
    assert not await asked_department()
    await invalidate("class:COMPONENT:0102", "class:0102")
    assert not await asked_department(), "a 部件 tag must not drop an 事件 class"
    await invalidate("class:EVENT:0102")
    assert await asked_department()
