"""Identity: real tokens signed with keys generated here (RSA and EC), JWKS from a file, inline and from a URL served
by a local HTTP server; the hostile-token suite; JWKS caching and refresh; anonymous policy; the `yiwang token` CLI."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from gateway.auth.authenticator import Authenticator
from gateway.auth.claims import principal_from_claims
from gateway.auth.config import AuthConfig, ClaimNames, IssuerConfig
from gateway.auth.principal import Principal, Role, Tier
from gateway.exceptions import AuthenticationError
from tests.identity_fixtures import (
    ATTACKER_RSA_KEY,
    AUDIENCE,
    EC_ISSUER,
    EC_KID,
    HOUR,
    RSA_ISSUER,
    RSA_KEY,
    RSA_KEY_2,
    RSA_KID,
    RSA_KID_2,
    JwksServer,
    auth_config,
    bearer,
    claims,
    ec_token,
    fixture_authenticator,  # noqa: F401 (the pytest fixture authenticator)
    fixture_jwks,  # noqa: F401 (the pytest fixture jwks)
    fixture_jwks_file,  # noqa: F401 (the pytest fixture jwks_file)
    fixture_jwks_server,  # noqa: F401 (the pytest fixture jwks_server)
    hs256_with_rsa_public_pem,
    rsa_jwk,
    rsa_token,
    tampered_token,
    unsigned_token,
)

# ---------------------------------------------------------------------------------------------- valid tokens

TIERS = [
    (Tier.NATIONAL, "000000", ["viewer"], ""),
    (Tier.PROVINCIAL, "370000", ["viewer"], "37"),
    (Tier.MUNICIPAL, "370800", ["dispatcher"], "3708"),
    (Tier.DISTRICT, "370811", ["inspector", "department_operator"], "370811"),
]


@pytest.mark.parametrize(("tier", "region", "roles", "prefix"), TIERS)
async def test_every_tier_from_a_jwks_file(authenticator: Authenticator, tier: Tier, region: str, roles: list[str],
                                           prefix: str) -> None:
    principal = await authenticator.authenticate(bearer(rsa_token(tier=tier.value, regionCode=region, roles=roles)))
    assert principal == Principal(subject="zhang.wei", tier=tier, region_code=region, roles=frozenset(roles),
                                  issuer=RSA_ISSUER)
    assert principal.region_prefix == prefix and principal.departments is None


@pytest.mark.parametrize(("tier", "region", "roles", "prefix"), TIERS)
async def test_every_tier_from_a_jwks_url(authenticator: Authenticator, tier: Tier, region: str, roles: list[str],
                                          prefix: str) -> None:
    principal = await authenticator.authenticate(bearer(ec_token(tier=tier.value.lower(), regionCode=region,
                                                                 roles=roles)))
    assert (principal.tier, principal.region_code, principal.roles) == (tier, region, frozenset(roles))
    assert principal.issuer == EC_ISSUER


async def test_second_key_of_the_jwks_and_scheme_case(authenticator: Authenticator) -> None:
    principal = await authenticator.authenticate(f"bearer  {rsa_token(kid=RSA_KID_2, key=RSA_KEY_2)}")
    assert principal.tier is Tier.MUNICIPAL


async def test_inline_jwks_single_key_needs_no_kid() -> None:
    config = AuthConfig(issuers=(IssuerConfig(issuer=RSA_ISSUER, audience=AUDIENCE,
                                              jwks={"keys": [rsa_jwk(RSA_KEY, RSA_KID)]}),))
    principal = await Authenticator(config).authenticate(bearer(rsa_token(kid=None)))
    assert principal.region_code == "370800"


async def test_claim_names_of_an_existing_idp() -> None:
    """A Keycloak-like token: nested roles, a namespaced (dotted) tier claim, the IdP's own tier and role names."""
    names = ClaimNames(subject="preferred_username", tier="https://city.test/claims/tier", region="ext.region",
                       roles="realm_access.roles", departments="dept", tier_aliases={"city": Tier.MUNICIPAL},
                       role_aliases={"cg_paiqian": Role.DISPATCHER})
    config = AuthConfig(issuers=(IssuerConfig(issuer=RSA_ISSUER, audience=(AUDIENCE, "other-app"),
                                              jwks={"keys": [rsa_jwk(RSA_KEY, RSA_KID)]}),), claims=names)
    idp_claims: dict[str, Any] = {"https://city.test/claims/tier": "city", "ext": {"region": "370800"},
                                  "realm_access": {"roles": ["offline_access", "cg_paiqian", "Inspector"]},
                                  "dept": "water, citymgmt"}
    token = rsa_token(tier=None, regionCode=None, roles=None, aud=["account", AUDIENCE], preferred_username="li.na",
                      **idp_claims)
    principal = await Authenticator(config).authenticate(bearer(token))
    assert principal == Principal(subject="li.na", tier=Tier.MUNICIPAL, region_code="370800",
                                  roles=frozenset({"dispatcher", "inspector"}),
                                  departments=frozenset({"water", "citymgmt"}), issuer=RSA_ISSUER)


@pytest.mark.parametrize(("roles", "expected"), [
    ("viewer dispatcher", {"viewer", "dispatcher"}),
    ("viewer,inspector", {"viewer", "inspector"}),
    (["viewer", "uma_authorization", "some-other-app"], {"viewer"}),
])
def test_roles_as_list_or_string_unknown_ones_ignored(roles: Any, expected: set[str]) -> None:
    principal = principal_from_claims(claims(roles=roles), ClaimNames())
    assert principal.roles == frozenset(expected)


@pytest.mark.parametrize(("departments", "expected"), [
    (None, None), ([], frozenset()), (["water"], frozenset({"water"})), ("water housing", frozenset({"water",
                                                                                                    "housing"})),
])
def test_departments_absent_means_unlimited(departments: Any, expected: frozenset[str] | None) -> None:
    assert principal_from_claims(claims(departments=departments), ClaimNames()).departments == expected


async def test_leeway_tolerates_small_clock_skew(authenticator: Authenticator) -> None:
    now = int(time.time())
    principal = await authenticator.authenticate(bearer(rsa_token(exp=now - 10, iat=now - HOUR, nbf=now + 10)))
    assert principal.subject == "zhang.wei"


# -------------------------------------------------------------------------------------------- hostile tokens

NOW = int(time.time())
HOSTILE: dict[str, tuple[Any, str]] = {
    "alg none": (lambda: unsigned_token({"alg": "none", "typ": "JWT"}, claims(tier="NATIONAL", regionCode="000000")),
                 "algorithm 'none' is not accepted"),
    "alg none with kid": (lambda: unsigned_token({"alg": "none", "kid": RSA_KID}, claims()), "'none' is not accepted"),
    "HS256 signed with the RSA public key": (hs256_with_rsa_public_pem, "algorithm 'HS256' is not accepted"),
    "RS256 token at an ES256 issuer": (lambda: jwt.encode(claims(EC_ISSUER), RSA_KEY, algorithm="RS256",
                                                          headers={"kid": EC_KID}), "'RS256' is not accepted"),
    "PS256 when only RS256 is configured": (lambda: rsa_token(algorithm="PS256"), "'PS256' is not accepted"),
    "expired": (lambda: rsa_token(exp=NOW - HOUR, iat=NOW - 2 * HOUR, nbf=NOW - 2 * HOUR), "token has expired"),
    "not yet valid (nbf)": (lambda: rsa_token(nbf=NOW + HOUR), "not yet valid"),
    "issued in the future (iat)": (lambda: rsa_token(iat=NOW + HOUR), "not yet valid"),
    "wrong issuer": (lambda: jwt.encode(claims("https://evil.test"), RSA_KEY, algorithm="RS256",
                                        headers={"kid": RSA_KID}), "issuer (iss) is not trusted"),
    "no issuer": (lambda: rsa_token(iss=None), "no issuer (iss) claim"),
    "trusted issuer, attacker's key": (lambda: rsa_token(key=ATTACKER_RSA_KEY), "signature is invalid"),
    "wrong audience": (lambda: rsa_token(aud="another-system"), "audience (aud) does not include 'yiwang'"),
    "no audience": (lambda: rsa_token(aud=None), "lacks the required 'aud' claim"),
    "no expiry": (lambda: rsa_token(exp=None), "lacks the required 'exp' claim"),
    "unknown kid": (lambda: rsa_token(kid="rsa-1999"), "key id (kid) is not a signing key"),
    "no kid, several keys": (lambda: rsa_token(kid=None), "no key id (kid)"),
    "tampered payload": (tampered_token, "signature is invalid"),
    "municipal 370000": (lambda: rsa_token(tier="MUNICIPAL", regionCode="370000"), "municipal region code ends in 00"),
    "district 370800": (lambda: rsa_token(tier="DISTRICT", regionCode="370800"), "district region code does not"),
    "national 110000": (lambda: rsa_token(tier="NATIONAL", regionCode="110000"), "national principal's region must"),
    "provincial 370800": (lambda: rsa_token(tier="PROVINCIAL", regionCode="370800"), "provincial region code ends"),
    "region not a code": (lambda: rsa_token(regionCode="Jining"), "not a 6-digit GB/T 2260 code"),
    "missing tier claim": (lambda: rsa_token(tier=None), "lacks the 'tier' claim"),
    "missing region claim": (lambda: rsa_token(regionCode=None), "lacks the 'regionCode' claim"),
    "missing roles claim": (lambda: rsa_token(roles=None), "lacks the 'roles' claim"),
    "missing subject": (lambda: rsa_token(sub=None), "lacks the 'sub' claim"),
    "unknown tier": (lambda: rsa_token(tier="GALACTIC"), "unknown tier 'GALACTIC'"),
    "PUBLIC tier claimed": (lambda: rsa_token(tier="PUBLIC"), "unknown tier 'PUBLIC'"),
    "no known role": (lambda: rsa_token(roles=["superuser", "root"]), "no known role"),
    "roles of the wrong type": (lambda: rsa_token(roles={"admin": True}), "must be a list of strings"),
    "garbage": (lambda: "garbage", "malformed bearer token"),
    "three garbage segments": (lambda: "abc.def.ghi", "malformed bearer token"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_hostile_token_is_refused_with_a_clear_message(authenticator: Authenticator, case: str) -> None:
    make, expected = HOSTILE[case]
    token = make()
    with pytest.raises(AuthenticationError) as refused:
        await authenticator.authenticate(bearer(token))
    assert expected in refused.value.message
    assert refused.value.code == "UNAUTHENTICATED" and refused.value.http_status == 401
    assert all(len(part) < 8 or part not in refused.value.message for part in token.split("."))


@pytest.mark.parametrize(("header", "expected"), [
    ("Basic dXNlcjpwYXNzd29yZA==", "unsupported authorization scheme"),
    ("Token abc", "unsupported authorization scheme"),
    ("Bearer\tnot-a-jwt", "malformed bearer token"),
    ("Bearer", "empty bearer token"),
    ("Bearer    ", "empty bearer token"),
    (f"Bearer {'a' * 20_000}", "longer than"),
])
async def test_malformed_authorization_headers(authenticator: Authenticator, header: str, expected: str) -> None:
    with pytest.raises(AuthenticationError, match=expected) as refused:
        await authenticator.authenticate(header)
    assert "dXNlcjpwYXNzd29yZA" not in refused.value.message


# -------------------------------------------------------------------------------------------------- anonymous


async def test_anonymous_rejected_by_default(jwks_file: Path, jwks: JwksServer) -> None:
    authenticator = Authenticator(auth_config(jwks_file, jwks.url))
    for header in (None, "", "   "):
        with pytest.raises(AuthenticationError, match="missing bearer token"):
            await authenticator.authenticate(header)


async def test_anonymous_public_when_configured(jwks_file: Path, jwks: JwksServer) -> None:
    authenticator = Authenticator(auth_config(jwks_file, jwks.url, anonymous="public"))
    principal = await authenticator.authenticate(None)
    assert principal.is_public and principal == Principal.public()
    with pytest.raises(AuthenticationError):  # a bad token is still refused, not downgraded to PUBLIC
        await authenticator.authenticate(bearer(rsa_token(exp=NOW - HOUR)))
