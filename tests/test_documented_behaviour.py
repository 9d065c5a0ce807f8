"""Documented behaviour driven over HTTP once each (issue 18, "a suite that would notice"): a failed department keeps
its cursor position; a shared ``YIWANG_CURSOR_SECRET`` across instances; ``YIWANG_AUTH_CONFIG_PATH`` and
``YIWANG_POLICY_PATH`` files; unexpected exceptions masked to ``INTERNAL_SERVER_ERROR``."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette

from connectors.deferred import DeferredComponentRecord
from connectors.records import COMPONENT_FIELDS, ComponentQuery, ComponentRecord, SearchPage
from connectors.water import WaterConnector
from gateway.app import create_app
from gateway.departments import build_connectors
from gateway.router import ConnectorSet
from mocks.city import DEPARTMENT_OF_CLASS, Inventory
from mocks.citymgmt_data import generate_cases
from tests.conftest import NATIONAL_VIEWER, MockDepartments, bearer, gateway_settings, graphql

DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "gateway" / "auth" / "default_policy.toml"


async def ask(app: Starlette, query: str, variables: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=30,
                                 headers=headers if headers is not None else bearer(*NATIONAL_VIEWER)) as client:
        return await graphql(client, query, variables)


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


# --- a failed department keeps its cursor position ----------------------------------------------------------------
# Ids sort by class: 0113 (water, 800 in 370811) comes before 0201 (transport, 250) and 0308 (environment, 30), so
# page 1 is water only and water has 300 left after it.
WALK = """query($after: String) { components(filter: {regionCode: "370811", classCodes: ["0113", "0201", "0308"]},
    first: 500, after: $after) { pageInfo { hasNextPage endCursor } nodes { id department } } }"""


async def walk(app: Starlette, after: str | None = None) -> list[str]:
    seen: list[str] = []
    while True:
        body = await ask(app, WALK, {"after": after})
        assert "errors" not in body, body
        connection = body["data"]["components"]
        seen.extend(node["id"] for node in connection["nodes"])
        if not connection["pageInfo"]["hasNextPage"]:
            return seen
        after = connection["pageInfo"]["endCursor"]


async def test_a_failed_department_keeps_its_cursor_position(
    mock_departments: MockDepartments, inventory: Inventory,
) -> None:
    app = create_app(gateway_settings(mock_departments, cache_enabled=False))
    try:
        uninterrupted = await walk(app)
        truth = sorted(c.id for c in inventory.by_id.values()
                       if c.region_code == "370811" and c.class_code in ("0113", "0201", "0308"))
        assert uninterrupted == truth  # an oracle apart from the gateway: the mocks' own inventory

        page1 = (await ask(app, WALK))["data"]["components"]
        water_before = [n["id"] for n in page1["nodes"] if n["department"] == "water"]
        assert water_before and page1["pageInfo"]["hasNextPage"]

        mock_departments.set_faults("water", down=True)
        try:
            page2 = await ask(app, WALK, {"after": page1["pageInfo"]["endCursor"]})
        finally:
            mock_departments.reset()
        connection = page2["data"]["components"]
        assert {n["department"] for n in connection["nodes"]} == {"transport", "environment"}
        assert [(e["extensions"]["code"], e["extensions"]["department"]) for e in page2["errors"]] == [
            ("UPSTREAM_UNAVAILABLE", "water")]

        rest = await walk(app, connection["pageInfo"]["endCursor"])
        water_after = [i for i in rest if DEPARTMENT_OF_CLASS[i[6:10]] == "water"]
        all_water = [i for i in truth if DEPARTMENT_OF_CLASS[i[6:10]] == "water"]
        assert water_before + water_after == all_water  # resumed exactly after page 1's last water item
        seen = [n["id"] for n in page1["nodes"]] + [n["id"] for n in connection["nodes"]] + rest
        assert len(seen) == len(set(seen)) and sorted(seen) == uninterrupted
    finally:
        await app.state.connector_source.aclose()


async def test_has_next_page_while_only_a_failed_department_has_items_left(
    mock_departments: MockDepartments,
) -> None:
    app = create_app(gateway_settings(mock_departments, cache_enabled=False))
    try:
        page1 = (await ask(app, WALK))["data"]["components"]
        mock_departments.set_faults("water", down=True)
        try:
            page2 = await ask(app, WALK, {"after": page1["pageInfo"]["endCursor"]})
        finally:
            mock_departments.reset()
        assert codes(page2) == ["UPSTREAM_UNAVAILABLE"]
        assert page2["data"]["components"]["pageInfo"]["hasNextPage"]  # water still owes 300 items
    finally:
        await app.state.connector_source.aclose()


# --- a shared YIWANG_CURSOR_SECRET across instances ----------------------------------------------------------------
SHORT_WALK = """query($after: String) { components(filter: {regionCode: "370811", classCodes: ["0201", "0308"]},
    first: 100, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } } }"""


async def test_instances_sharing_the_cursor_secret_continue_each_others_walks(
    mock_departments: MockDepartments, inventory: Inventory,
) -> None:
    secret = "a-cursor-secret-shared-by-every-instance-0123456789"
    first = create_app(gateway_settings(mock_departments, cursor_secret=secret))
    second = create_app(gateway_settings(mock_departments, cursor_secret=secret))
    stranger = create_app(gateway_settings(mock_departments, cursor_secret="another-secret-" + "9" * 40))
    try:
        seen: list[str] = []
        after = None
        for app in (first, second, first):  # each page from the other instance
            body = await ask(app, SHORT_WALK, {"after": after})
            assert "errors" not in body, body
            seen.extend(node["id"] for node in body["data"]["components"]["nodes"])
            after = body["data"]["components"]["pageInfo"]["endCursor"]
        assert not body["data"]["components"]["pageInfo"]["hasNextPage"]
        assert seen == sorted(c.id for c in inventory.by_id.values()
                              if c.region_code == "370811" and c.class_code in ("0201", "0308"))

        page1 = await ask(first, SHORT_WALK)
        foreign = await ask(stranger, SHORT_WALK, {"after": page1["data"]["components"]["pageInfo"]["endCursor"]})
        assert codes(foreign) == ["BAD_USER_INPUT"] and foreign["data"] == {"components": None}
    finally:
        for app in (first, second, stranger):
            await app.state.connector_source.aclose()


# --- YIWANG_AUTH_CONFIG_PATH ----------------------------------------------------------------------------------------
ISSUER = "https://idp.documented.test/realms/city"
AUDIENCE = "yiwang-documented"
KID = "documented-2026"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def idp_token(key: rsa.RSAPrivateKey) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 600,
               "preferred_username": "wang.fang", "level": "qu", "area": {"code": "370812"},
               "groups": ["cg_paiqian", "inspector"]}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": KID})


async def test_an_auth_config_file_names_the_issuer_its_keys_and_claims(
    mock_departments: MockDepartments, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    jwks = tmp_path / "idp.jwks.json"
    jwk = {**RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": KID, "use": "sig", "alg": "RS256"}
    jwks.write_text(json.dumps({"keys": [jwk]}))
    config = tmp_path / "auth.json"
    config.write_text(json.dumps({
        "issuers": [{"issuer": ISSUER, "audience": AUDIENCE, "jwks_file": str(jwks), "algorithms": ["RS256"]}],
        "claims": {"subject": "preferred_username", "tier": "level", "region": "area.code", "roles": "groups",
                   "tier_aliases": {"qu": "DISTRICT"}, "role_aliases": {"cg_paiqian": "dispatcher"}},
    }))
    monkeypatch.setenv("YIWANG_AUTH_CONFIG_PATH", str(config))
    settings = gateway_settings(mock_departments, trust_demo_issuer=False)
    assert settings.auth_config_path == str(config)
    app = create_app(settings)
    try:
        query = "{ viewer { tier regionCode roles } }"
        body = await ask(app, query, headers={"authorization": f"Bearer {idp_token(KEY)}"})
        assert body == {"data": {"viewer": {"tier": "DISTRICT", "regionCode": "370812",
                                            "roles": ["dispatcher", "inspector"]}}}, body
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            forged = await client.post("/graphql", json={"query": query},
                                       headers={"authorization": f"Bearer {idp_token(OTHER_KEY)}"})
            demo = await client.post("/graphql", json={"query": query}, headers=bearer(*NATIONAL_VIEWER))
        assert forged.status_code == 401 and forged.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert demo.status_code == 401  # only the configured issuer is trusted
    finally:
        await app.state.connector_source.aclose()


# --- YIWANG_POLICY_PATH ---------------------------------------------------------------------------------------------
CASES = """{ events(first: 200, filter: {source: [PUBLIC_REPORT, HOTLINE_12345]}) {
    nodes { id reporterName reporterPhone } } }"""
DISPATCHER = ("DISTRICT", "370811", "dispatcher")


async def test_a_policy_file_changes_what_callers_see(
    mock_departments: MockDepartments, inventory: Inventory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = DEFAULT_POLICY.read_text(encoding="utf-8")
    phone_rule = ('[fields."CityEvent.reporterPhone"]\nmask = "phone"           # 13812341234 -> 138****1234\n'
                  'visible = [{ tiers = ["MUNICIPAL", "DISTRICT"], roles = ["dispatcher", "inspector"] }]\n')
    assert phone_rule in default
    policy = tmp_path / "policy.toml"
    # Dispatchers now see reporters' phone numbers masked; anonymous callers see environment stations only.
    policy.write_text(default.replace(phone_rule, phone_rule.replace(
        'visible = [{ tiers = ["MUNICIPAL", "DISTRICT"], roles = ["dispatcher", "inspector"] }]', "visible = []"))
        .replace('component_classes = ["0308", "0203", "0201"]', 'component_classes = ["0308"]'))
    monkeypatch.setenv("YIWANG_POLICY_PATH", str(policy))
    app = create_app(gateway_settings(mock_departments, anonymous="public"))
    try:
        truth = {case.id: case for case in generate_cases(inventory)}
        body = await ask(app, CASES, headers=bearer(*DISPATCHER))
        nodes = body["data"]["events"]["nodes"]
        assert nodes and "errors" not in body
        for node in nodes:
            case = truth[node["id"]]
            assert node["reporterName"] == case.reporter_name  # the name rule is unchanged: in full
            phone = case.reporter_phone
            assert phone and node["reporterPhone"] == f"{phone[:3]}****{phone[-4:]}"

        public = await ask(app, '{ components(filter: {regionCode: "370811"}, first: 100) '
                                '{ totalCount nodes { id } } }', headers={})
        assert "errors" not in public, public
        assert public["data"]["components"]["totalCount"] == sum(
            1 for c in inventory.by_id.values() if c.region_code == "370811" and c.class_code == "0308")
        assert {node["id"][6:10] for node in public["data"]["components"]["nodes"]} == {"0308"}
    finally:
        await app.state.connector_source.aclose()


# --- error masking --------------------------------------------------------------------------------------------------
SECRET_DETAIL = "secret internal detail"


class BrokenLocation(DeferredComponentRecord):
    """A record whose location translation (run lazily, when a resolver reads it) fails with a bug's message."""

    __slots__ = ()

    def __init__(self, record: ComponentRecord) -> None:
        super().__init__(row=None)
        for name in COMPONENT_FIELDS:
            if name not in ("lng", "lat", "owner", "maintainer", "attributes"):
                setattr(self, name, getattr(record, name))

    def translate_location(self) -> None:
        raise RuntimeError(SECRET_DETAIL)


class BrokenWater(WaterConnector):
    async def search_components(self, query: ComponentQuery, after: str | None, first: int,
                                ) -> SearchPage[ComponentRecord]:
        page = await super().search_components(query, after, first)
        items: list[ComponentRecord] = [BrokenLocation(item) for item in page.items]
        return SearchPage(items=items, positions=page.positions, total=page.total, has_more=page.has_more)


@pytest.fixture
async def broken_app(mock_departments: MockDepartments) -> AsyncIterator[Starlette]:
    settings = gateway_settings(mock_departments, cache_enabled=False)
    real = build_connectors(settings)
    water = real.get("water")
    assert water is not None
    connectors: Sequence[Any] = [*(c for c in real if c.department_id != "water"),
                                 BrokenWater(water.client, regions=water.regions, timeout_s=water.timeout_s)]
    app = create_app(settings, connectors=ConnectorSet(connectors))
    yield app
    await app.state.connector_source.aclose()


async def test_an_unexpected_exception_is_masked_and_logged(broken_app: Starlette,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=broken_app), base_url="http://gateway",
                                 headers=bearer(*NATIONAL_VIEWER)) as client:
        response = await client.post("/graphql", json={"query": """
            { components(filter: {regionCode: "370811", classCodes: ["2142"]}, first: 3) {
                nodes { id location { lng } } } }"""})
    body = response.json()
    assert body["errors"], body
    assert {(e["message"], e["extensions"]["code"]) for e in body["errors"]} == {
        ("Internal server error", "INTERNAL_SERVER_ERROR")}
    assert SECRET_DETAIL not in response.text and "RuntimeError" not in response.text
    assert SECRET_DETAIL in caplog.text
