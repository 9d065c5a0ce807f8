"""直辖市 (Beijing 110000, Tianjin 120000, Shanghai 310000, Chongqing 500000) are province-level divisions that build
a 市级平台 (domain.md §2): a MUNICIPAL principal for one of them is accepted, and its scope is the whole municipality
(Chongqing's counties 5002xx included), not a 4-digit prefix."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.auth.demo import mint_token
from tests.conftest import graphql

MUNICIPALITIES = ["110000", "120000", "310000", "500000"]
VIEWER = "{ viewer { tier regionCode regionPrefix } }"
COMPONENTS_IN = 'query($r: String) { components(filter: {regionCode: $r}, first: 1) { totalCount } }'


async def _ask(app: Starlette, region: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {mint_token('MUNICIPAL', region, ['viewer'])}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                                 headers=headers) as client:
        return await graphql(client, query, variables)


@pytest.mark.parametrize("region", MUNICIPALITIES)
async def test_a_municipality_has_a_municipal_platform_over_the_whole_division(gateway_app: Starlette,
                                                                               region: str) -> None:
    body = await _ask(gateway_app, region, VIEWER)
    assert body == {"data": {"viewer": {"tier": "MUNICIPAL", "regionCode": region, "regionPrefix": region[:2]}}}


@pytest.mark.parametrize(("region", "asked", "allowed"), [
    ("500000", "500230", True),   # a Chongqing county (5002xx) lies inside Chongqing's municipal platform
    ("500000", "500101", True),   # a Chongqing district (5001xx)
    ("110000", "110105", True),   # 朝阳区
    ("110000", "500230", False),
    ("310000", "370811", False),
])
async def test_a_municipality_s_scope_is_the_two_digit_prefix(gateway_app: Starlette, region: str, asked: str,
                                                             allowed: bool) -> None:
    body = await _ask(gateway_app, region, COMPONENTS_IN, {"r": asked})
    if allowed:
        assert "errors" not in body, body
        assert body["data"]["components"]["totalCount"] == 0  # the mock departments serve Jining only
    else:
        assert body["data"]["components"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("region", ["370000", "440000", "000000"])
def test_other_province_level_codes_are_not_municipal(region: str) -> None:
    with pytest.raises(ValueError, match=r"municipal|national"):
        mint_token("MUNICIPAL", region, ["viewer"])
