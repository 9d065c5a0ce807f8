"""Edges of the identity modules (gateway/auth/config, keys, tokens, authenticator, claims) that the main identity
tests left unwatched: each test pins a behaviour a surviving mutant changed (docs/mutation.md)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.auth.config import AuthConfig, IssuerConfig, load_auth_config
from gateway.auth.keys import MAX_JWKS_BYTES, RemoteKeys, key_set_from_jwks
from gateway.exceptions import ConfigurationError, UpstreamUnavailable
from tests.identity_fixtures import EC_KEY, EC_KEY_2, RSA_KEY, RSA_KEY_2, ec_jwk, rsa_jwk


def test_an_invalid_auth_config_is_named_by_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "auth.json"
    bad.write_text(json.dumps({"anonymous": "maybe"}))
    with pytest.raises(ConfigurationError, match=f"invalid auth config '{bad}'"):
        load_auth_config(bad)


# --- gateway/auth/keys.py: which JWKS entries are signing keys, and when a JWKS URL is fetched ---------------------
EC_ISSUER = IssuerConfig(issuer="https://idp.test", audience="yiwang", jwks_url="https://idp.test/jwks",
                         algorithms=("ES256", "ES384"))
RSA_ISSUER = IssuerConfig(issuer="https://idp.test", audience="yiwang", jwks_url="https://idp.test/jwks",
                          algorithms=("PS256", "RS256"))


def test_a_jwks_without_a_keys_list_is_named_as_such() -> None:
    with pytest.raises(ValueError, match=r"^a JWKS is an object with a 'keys' list$"):
        key_set_from_jwks({"keys": "none"}, EC_ISSUER)


def test_only_signing_keys_count_and_a_skipped_entry_does_not_end_the_list() -> None:
    encryption = {**ec_jwk(EC_KEY_2, "enc-1"), "use": "enc"}
    unmarked = {key: value for key, value in ec_jwk(EC_KEY, "sig-1").items() if key != "use"}  # "use" defaults to sig
    keys = key_set_from_jwks({"keys": [encryption, unmarked]}, EC_ISSUER)
    assert set(keys.by_kid) == {"sig-1"} and len(keys.all) == 1


def test_a_key_is_used_only_with_the_algorithm_it_names() -> None:
    rsa_keys = key_set_from_jwks({"keys": [rsa_jwk(RSA_KEY, "r1", alg="RS256"), rsa_jwk(RSA_KEY, "r2", alg=None)]},
                                 RSA_ISSUER)
    assert rsa_keys.by_kid["r1"].algorithms == ("RS256",)
    assert rsa_keys.by_kid["r2"].algorithms == ("PS256", "RS256")
    p256 = ec_jwk(EC_KEY, "e1")
    assert key_set_from_jwks({"keys": [p256]}, EC_ISSUER).by_kid["e1"].algorithms == ("ES256",)
    with pytest.raises(ValueError, match="no EC signing key"):  # a P-256 key claiming ES384 is no key at all
        key_set_from_jwks({"keys": [{**p256, "alg": "ES384"}]}, EC_ISSUER)


def test_an_unusable_key_is_skipped_with_a_warning_naming_the_issuer(caplog: pytest.LogCaptureFixture) -> None:
    broken = {**rsa_jwk(RSA_KEY_2, "broken"), "n": "AQAB"}  # a modulus smaller than the exponent
    with caplog.at_level(logging.WARNING, logger="gateway.auth.keys"):
        keys = key_set_from_jwks({"keys": [broken, rsa_jwk(RSA_KEY, "r1")]}, RSA_ISSUER)
    assert set(keys.by_kid) == {"r1"}
    assert [record.getMessage() for record in caplog.records] == [
        "issuer https://idp.test: skipping an unusable JWKS key: Unable to construct key from JWK: e must be >= 3 "
        "and < n."]


class Idp:
    """A JWKS URL answered in memory, with a clock the test moves."""

    def __init__(self, **config: Any) -> None:
        self.now = 1000.0
        self.fetches = 0
        self.failing = False
        self.timeouts: list[Any] = []
        self.body = json.dumps({"keys": [ec_jwk(EC_KEY, "e1")]}).encode()
        self.config = AuthConfig(issuers=(EC_ISSUER,), **config)
        client = httpx.AsyncClient(transport=httpx.MockTransport(self._serve))
        self.keys = RemoteKeys(EC_ISSUER, self.config, lambda: client, lambda: self.now)

    def _serve(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        self.timeouts.append(request.extensions.get("timeout"))
        if self.failing:
            return httpx.Response(503)
        return httpx.Response(200, content=self.body)


async def test_fresh_keys_are_reused_and_refetched_once_the_ttl_has_passed_exactly() -> None:
    idp = Idp(jwks_cache_ttl_s=600, jwks_refresh_interval_s=0)
    await idp.keys.get()
    await idp.keys.get()
    idp.now += 599
    await idp.keys.get()
    assert idp.fetches == 1
    idp.now += 1
    await idp.keys.get()
    assert idp.fetches == 2


async def test_a_refresh_waits_exactly_the_refresh_interval() -> None:
    idp = Idp(jwks_refresh_interval_s=30)
    await idp.keys.get()
    idp.now += 29
    await idp.keys.refresh()
    assert idp.fetches == 1
    idp.now += 1
    await idp.keys.refresh()
    assert idp.fetches == 2


async def test_the_fetch_has_the_configured_timeout() -> None:
    idp = Idp(jwks_fetch_timeout_s=1.5)
    await idp.keys.get()
    assert idp.timeouts == [{"connect": 1.5, "read": 1.5, "write": 1.5, "pool": 1.5}]


async def test_a_failed_fetch_is_logged_with_the_issuer_url_and_reason(caplog: pytest.LogCaptureFixture) -> None:
    idp = Idp()
    idp.failing = True
    with caplog.at_level(logging.WARNING, logger="gateway.auth.keys"), pytest.raises(UpstreamUnavailable) as failure:
        await idp.keys.get()
    assert failure.value.department == "identity-provider"
    assert [record.getMessage() for record in caplog.records] == [
        "issuer https://idp.test: JWKS fetch from https://idp.test/jwks failed: "
        "Server error '503 Service Unavailable' for url 'https://idp.test/jwks'\n"
        "For more information check: https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/503"]


async def test_a_jwks_of_exactly_the_size_limit_is_read_and_a_larger_one_refused(
        caplog: pytest.LogCaptureFixture) -> None:
    idp = Idp(jwks_refresh_interval_s=0, jwks_cache_ttl_s=1)
    idp.body = idp.body.ljust(MAX_JWKS_BYTES)
    assert (await idp.keys.get()).by_kid.keys() == {"e1"}
    idp.body += b" "
    idp.now += 1
    with caplog.at_level(logging.WARNING, logger="gateway.auth.keys"):
        await idp.keys.get()  # the last good set stays in use
    assert idp.fetches == 2 and f"JWKS larger than {MAX_JWKS_BYTES} bytes" in caplog.text
