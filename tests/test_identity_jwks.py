"""JWKS by URL: fetched once, refreshed once on an unknown kid, cached across an IdP outage, never flooded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from gateway.auth.authenticator import Authenticator
from gateway.exceptions import AuthenticationError, UpstreamUnavailable
from tests.identity_fixtures import (
    EC_ISSUER,
    EC_KEY,
    EC_KEY_2,
    EC_KID,
    EC_KID_2,
    JwksServer,
    auth_config,
    bearer,
    ec_jwk,
    ec_token,
    fixture_authenticator,  # noqa: F401 (the pytest fixture authenticator)
    fixture_jwks,  # noqa: F401 (the pytest fixture jwks)
    fixture_jwks_file,  # noqa: F401 (the pytest fixture jwks_file)
    fixture_jwks_server,  # noqa: F401 (the pytest fixture jwks_server)
)

# ---------------------------------------------------------------------------------------------- JWKS by URL


async def test_jwks_url_fetched_once_for_many_tokens(authenticator: Authenticator, jwks: JwksServer) -> None:
    tokens = [ec_token(sub=f"user-{n}") for n in range(20)]
    principals = await asyncio.gather(*(authenticator.authenticate(bearer(token)) for token in tokens))
    principals += [await authenticator.authenticate(bearer(token)) for token in tokens]
    assert len({p.subject for p in principals}) == 20
    assert jwks.fetches == 1


async def test_jwks_refreshed_once_on_unknown_kid(authenticator: Authenticator, jwks: JwksServer) -> None:
    await authenticator.authenticate(bearer(ec_token()))
    jwks.jwks = {"keys": [ec_jwk(EC_KEY, EC_KID), ec_jwk(EC_KEY_2, EC_KID_2)]}  # the IdP rotates in a new key
    principal = await authenticator.authenticate(bearer(ec_token(kid=EC_KID_2, key=EC_KEY_2)))
    assert principal.issuer == EC_ISSUER and jwks.fetches == 2
    await authenticator.authenticate(bearer(ec_token(kid=EC_KID_2, key=EC_KEY_2)))
    assert jwks.fetches == 2
    with pytest.raises(AuthenticationError, match="key id"):
        await authenticator.authenticate(bearer(ec_token(kid="made-up")))
    assert jwks.fetches == 3  # one refresh, then 401


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_made_up_kids_do_not_flood_the_idp(jwks_file: Path, jwks: JwksServer) -> None:
    clock = FakeClock()
    authenticator = Authenticator(auth_config(jwks_file, jwks.url, jwks_refresh_interval_s=30), clock=clock)
    await authenticator.authenticate(bearer(ec_token()))
    for n in range(10):
        with pytest.raises(AuthenticationError, match="key id"):
            await authenticator.authenticate(bearer(ec_token(kid=f"random-{n}")))
    assert jwks.fetches == 1
    clock.now += 31
    jwks.jwks = {"keys": [ec_jwk(EC_KEY_2, EC_KID_2)]}
    assert (await authenticator.authenticate(bearer(ec_token(kid=EC_KID_2, key=EC_KEY_2)))).issuer == EC_ISSUER
    assert jwks.fetches == 2
    await authenticator.aclose()


async def test_jwks_cache_expires_and_survives_an_idp_outage(jwks_file: Path, jwks: JwksServer) -> None:
    clock = FakeClock()
    authenticator = Authenticator(auth_config(jwks_file, jwks.url, jwks_cache_ttl_s=300), clock=clock)
    await authenticator.authenticate(bearer(ec_token()))
    clock.now += 301
    await authenticator.authenticate(bearer(ec_token()))
    assert jwks.fetches == 2
    jwks.failing = True
    clock.now += 301
    principal = await authenticator.authenticate(bearer(ec_token()))  # the last good keys stay in use
    assert principal.issuer == EC_ISSUER and jwks.fetches == 3
    await authenticator.aclose()


async def test_idp_unreachable_without_cached_keys(jwks_file: Path, jwks: JwksServer) -> None:
    jwks.failing = True
    authenticator = Authenticator(auth_config(jwks_file, jwks.url))
    with pytest.raises(UpstreamUnavailable, match="signing keys of issuer"):
        await authenticator.authenticate(bearer(ec_token()))
    jwks.failing = False
    assert (await authenticator.authenticate(bearer(ec_token()))).issuer == EC_ISSUER
    await authenticator.aclose()


async def test_injected_http_client(jwks_file: Path) -> None:
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        return httpx.Response(200, json={"keys": [ec_jwk(EC_KEY, EC_KID)]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        authenticator = Authenticator(auth_config(jwks_file, "https://idp.province.test/certs"), client=client)
        assert (await authenticator.authenticate(bearer(ec_token()))).issuer == EC_ISSUER
        await authenticator.aclose()  # not ours to close
        assert (await authenticator.authenticate(bearer(ec_token()))).issuer == EC_ISSUER
    assert requests == ["https://idp.province.test/certs"]
