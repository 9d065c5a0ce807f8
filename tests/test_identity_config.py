"""Identity configuration: HS256 only when allowed for development, issuer and JWKS settings checked at start-up."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jwt
import pytest
from pydantic import ValidationError

from gateway.auth.authenticator import Authenticator
from gateway.auth.config import AuthConfig, IssuerConfig, load_auth_config
from gateway.auth.principal import Tier
from gateway.exceptions import AuthenticationError, ConfigurationError
from tests.identity_fixtures import (
    AUDIENCE,
    EC_KEY,
    EC_KID,
    HS_SECRET,
    RSA_ISSUER,
    RSA_KEY,
    RSA_KID,
    bearer,
    claims,
    ec_jwk,
    rsa_jwk,
    rsa_token,
    unsigned_token,
)

# ---------------------------------------------------------------------------------------------------- HS256


def test_hs256_refused_unless_allowed() -> None:
    with pytest.raises(ValidationError, match="allow_hs256"):
        IssuerConfig(issuer="dev", audience=AUDIENCE, hs256_secret=HS_SECRET)
    with pytest.raises(ValidationError, match="allow_hs256"):
        IssuerConfig(issuer="dev", audience=AUDIENCE, hs256_secret=HS_SECRET, algorithms=("HS256",))


async def test_hs256_when_allowed_for_development() -> None:
    issuer = IssuerConfig(issuer="dev", audience=AUDIENCE, hs256_secret=HS_SECRET, allow_hs256=True)
    assert issuer.algorithms == ("HS256",)
    assert HS_SECRET not in repr(issuer)
    authenticator = Authenticator(AuthConfig(issuers=(issuer,)))
    principal = await authenticator.authenticate(bearer(jwt.encode(claims("dev"), HS_SECRET, algorithm="HS256")))
    assert principal.issuer == "dev"
    with_kid = jwt.encode(claims("dev"), HS_SECRET, algorithm="HS256", headers={"kid": "dev-1"})
    assert (await authenticator.authenticate(bearer(with_kid))).issuer == "dev"  # a secret has no key id to match
    wrong_secret = jwt.encode(claims("dev"), "another-secret-that-is-32-chars-long!!", algorithm="HS256")
    with pytest.raises(AuthenticationError, match="signature is invalid"):
        await authenticator.authenticate(bearer(wrong_secret))
    with pytest.raises(AuthenticationError, match="'none' is not accepted"):
        await authenticator.authenticate(bearer(unsigned_token({"alg": "none"}, claims("dev"))))


@pytest.mark.parametrize(("config", "expected"), [
    ({"jwks": {"keys": []}, "algorithms": ["RS256", "ES256"]}, "mix families"),
    ({"jwks": {"keys": []}, "algorithms": ["none"]}, "unsupported algorithms"),
    ({"jwks": {"keys": []}, "algorithms": []}, "unsupported algorithms"),
    ({"jwks": {"keys": []}, "algorithms": ["HS256"], "allow_hs256": True}, "HS256 needs hs256_secret"),
    ({"hs256_secret": HS_SECRET, "algorithms": ["RS256"], "allow_hs256": True}, "hs256_secret goes with"),
    ({"hs256_secret": "short", "allow_hs256": True}, "at least 32 characters"),
    ({}, "exactly one of"),
    ({"jwks": {"keys": []}, "jwks_url": "https://idp.test/jwks"}, "exactly one of"),
    ({"jwks_url": "file:///etc/passwd"}, "http(s) URL"),
    ({"jwks": {"keys": []}, "leeway_s": 3600}, "less than or equal"),
    ({"jwks": {"keys": []}, "jwks_uri": "https://typo.test"}, "Extra inputs are not permitted"),
])
def test_issuer_config_is_validated(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(expected)):
        IssuerConfig.model_validate({"issuer": "x", "audience": AUDIENCE, **config})
    with pytest.raises(ValidationError) as invalid:
        IssuerConfig.model_validate({"issuer": "x", "audience": AUDIENCE, **config})
    assert invalid.value.error_count() == 1


def test_unusable_jwks_fails_at_start_up(tmp_path: Path) -> None:
    only_ec = IssuerConfig(issuer="x", audience=AUDIENCE, jwks={"keys": [ec_jwk(EC_KEY, EC_KID)]})  # RS256 issuer
    with pytest.raises(ConfigurationError, match="no RSA signing key"):
        Authenticator(AuthConfig(issuers=(only_ec,)))
    missing = IssuerConfig(issuer="x", audience=AUDIENCE, jwks_file=tmp_path / "absent.json")
    with pytest.raises(ConfigurationError, match="unusable JWKS"):
        Authenticator(AuthConfig(issuers=(missing,)))


def test_auth_config_rejects_unknown_keys_and_duplicate_issuers() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        AuthConfig.model_validate({"anonymus": "public"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        AuthConfig.model_validate({"claims": {"role": "groups"}})
    issuer = {"issuer": "x", "audience": AUDIENCE, "jwks": {"keys": []}}
    with pytest.raises(ValidationError, match="configured once"):
        AuthConfig.model_validate({"issuers": [issuer, issuer]})


async def test_load_auth_config_from_json(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "idp.json").write_text(json.dumps({"keys": [rsa_jwk(RSA_KEY, RSA_KID, alg=None)]}))
    (tmp_path / "auth.json").write_text(json.dumps({
        "issuers": [{"issuer": RSA_ISSUER, "audience": AUDIENCE, "jwks_file": "keys/idp.json",
                     "algorithms": ["RS256", "PS256"], "leeway_s": 60}],
        "claims": {"roles": "groups", "tier_aliases": {"city": "MUNICIPAL"}},
        "anonymous": "public", "jwks_cache_ttl_s": 600}))
    config = load_auth_config(tmp_path / "auth.json")
    assert config.issuers[0].jwks_file == tmp_path / "keys" / "idp.json"
    token = rsa_token(algorithm="PS256", tier="city", roles=None, groups="viewer")
    principal = await Authenticator(config).authenticate(bearer(token))
    assert (principal.tier, principal.roles) == (Tier.MUNICIPAL, frozenset({"viewer"}))
    (tmp_path / "bad.json").write_text(json.dumps({"anonymous": "maybe"}))
    with pytest.raises(ConfigurationError, match="invalid auth config"):
        load_auth_config(tmp_path / "bad.json")
