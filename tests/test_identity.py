"""Identity: real tokens signed with keys generated here (RSA and EC), JWKS from a file, inline and from a URL served
by a local HTTP server; the hostile-token suite; JWKS caching and refresh; anonymous policy; the `yiwang token` CLI."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.auth.authenticator import Authenticator
from gateway.auth.claims import principal_from_claims
from gateway.auth.config import AuthConfig, ClaimNames, IssuerConfig, load_auth_config
from gateway.auth.demo import DEMO_PERSONAS, demo_auth_config, demo_issuer_config, demo_tokens, mint_token
from gateway.auth.principal import Principal, Role, Tier
from gateway.exceptions import AuthenticationError, ConfigurationError, UpstreamUnavailable

YIWANG = Path(sys.executable).with_name("yiwang")
RSA_ISSUER = "https://idp.city.test/realms/cg"
EC_ISSUER = "https://idp.province.test"
AUDIENCE = "yiwang"
RSA_KID, RSA_KID_2, EC_KID, EC_KID_2 = "rsa-2026-01", "rsa-2026-02", "ec-2026-01", "ec-2026-02"
HOUR = 3600
SERVER_START_TIMEOUT_S = 10

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ATTACKER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC_KEY_2 = ec.generate_private_key(ec.SECP256R1())
HS_SECRET = "a-development-secret-of-at-least-32-chars"


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str, alg: str | None = "RS256") -> dict[str, Any]:
    jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}
    return {**jwk, "alg": alg} if alg else jwk


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}


def claims(issuer: str = RSA_ISSUER, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": issuer, "aud": AUDIENCE, "sub": "zhang.wei", "iat": now, "nbf": now,
                            "exp": now + HOUR, "tier": "MUNICIPAL", "regionCode": "370800", "roles": ["dispatcher"]}
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def rsa_token(kid: str | None = RSA_KID, key: Any = RSA_KEY, algorithm: str = "RS256", **overrides: Any) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims(RSA_ISSUER, **overrides), key, algorithm=algorithm, headers=headers)


def ec_token(kid: str = EC_KID, key: Any = EC_KEY, **overrides: Any) -> str:
    return jwt.encode(claims(EC_ISSUER, **overrides), key, algorithm="ES256", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"


def hs256_with_rsa_public_pem() -> str:
    """The classic key-confusion forgery: HS256 'signed' with the issuer's RSA public key as the HMAC secret."""
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header, payload = {"alg": "HS256", "typ": "JWT", "kid": RSA_KID}, claims(tier="NATIONAL", regionCode="000000")
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"


def tampered_token() -> str:
    """A valid token whose payload is swapped for a more powerful one, the signature kept."""
    header, _, signature = rsa_token().split(".")
    payload = b64(json.dumps(claims(tier="NATIONAL", regionCode="000000", roles=["platform_admin"])).encode())
    return f"{header}.{payload}.{signature}"


def bearer(token: str) -> str:
    return f"Bearer {token}"


# ------------------------------------------------------------------------------------------ the JWKS URL server


class JwksServer:
    """A real HTTP server (uvicorn, in a thread) serving a JWKS that a test may rotate; it counts fetches."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": [ec_jwk(EC_KEY, EC_KID)]}
        self.fetches = 0
        self.failing = False
        self.port = _free_port()
        app = Starlette(routes=[Route("/jwks", self._serve)])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks"

    async def _serve(self, request: Request) -> Response:
        self.fetches += 1
        if self.failing:
            return JSONResponse({"error": "down"}, status_code=503)
        return JSONResponse(self.jwks)

    def reset(self) -> None:
        self.jwks, self.fetches, self.failing = {"keys": [ec_jwk(EC_KEY, EC_KID)]}, 0, False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.server.started:
        assert time.monotonic() < deadline, "JWKS server did not start"
        time.sleep(0.05)
    yield server
    server.server.should_exit = True
    server.thread.join(timeout=SERVER_START_TIMEOUT_S)


@pytest.fixture
def jwks(jwks_server: JwksServer) -> JwksServer:
    jwks_server.reset()
    return jwks_server


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "city-idp.jwks.json"
    path.write_text(json.dumps({"keys": [rsa_jwk(RSA_KEY, RSA_KID), rsa_jwk(RSA_KEY_2, RSA_KID_2)]}))
    return path


def auth_config(jwks_file: Path, jwks_url: str, **overrides: Any) -> AuthConfig:
    issuers = (
        IssuerConfig(issuer=RSA_ISSUER, audience=AUDIENCE, jwks_file=jwks_file, algorithms=("RS256",)),
        IssuerConfig(issuer=EC_ISSUER, audience=AUDIENCE, jwks_url=jwks_url, algorithms=("ES256",)),
    )
    return AuthConfig(**{"issuers": issuers, "jwks_refresh_interval_s": 0, **overrides})


@pytest.fixture
async def authenticator(jwks_file: Path, jwks: JwksServer) -> AsyncIterator[Authenticator]:
    auth = Authenticator(auth_config(jwks_file, jwks.url))
    yield auth
    await auth.aclose()


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


# ------------------------------------------------------------------------------------------------ demo issuer


async def test_demo_tokens_one_per_tier() -> None:
    authenticator = Authenticator(demo_auth_config())
    tokens = demo_tokens()
    assert len(tokens) == len(DEMO_PERSONAS)
    principals = [await authenticator.authenticate(bearer(token)) for token in tokens.values()]
    assert [(p.tier, p.region_code, p.roles) for p in principals] == [
        (Tier.NATIONAL, "000000", frozenset({"viewer"})), (Tier.PROVINCIAL, "370000", frozenset({"viewer"})),
        (Tier.MUNICIPAL, "370800", frozenset({"dispatcher"})), (Tier.DISTRICT, "370811", frozenset({"inspector"})),
        (Tier.NATIONAL, "000000", frozenset({"platform_admin"}))]
    assert all(p.issuer == "yiwang-demo" for p in principals)
    assert (await authenticator.authenticate(None)).is_public


def test_mint_token_validates_its_input() -> None:
    with pytest.raises(ValueError, match="municipal region code"):
        mint_token("municipal", "370000", ["dispatcher"])
    with pytest.raises(ValueError, match="unknown role"):
        mint_token("district", "370811", ["god"])


async def test_demo_token_refused_by_a_production_config(jwks_file: Path, jwks: JwksServer) -> None:
    token = mint_token(Tier.NATIONAL, "000000", [Role.PLATFORM_ADMIN])
    with pytest.raises(AuthenticationError, match="not trusted"):
        await Authenticator(auth_config(jwks_file, jwks.url)).authenticate(bearer(token))


def _yiwang(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIWANG_")}
    return subprocess.run([str(YIWANG), *args], capture_output=True, text=True, env=env, timeout=60, check=False)


async def test_yiwang_token_cli() -> None:
    result = _yiwang("token", "--tier", "municipal", "--region", "370800", "--role", "dispatcher", "--role",
                     "inspector", "--department", "water", "--ttl", "600", "--subject", "wang.fang")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    principal = await Authenticator(AuthConfig(issuers=(demo_issuer_config(),))).authenticate(bearer(token))
    assert principal == Principal(subject="wang.fang", tier=Tier.MUNICIPAL, region_code="370800",
                                  roles=frozenset({"dispatcher", "inspector"}), departments=frozenset({"water"}),
                                  issuer="yiwang-demo")
    lifetime = jwt.decode(token, options={"verify_signature": False})
    assert lifetime["exp"] - lifetime["iat"] == 600


@pytest.mark.parametrize(("args", "expected"), [
    (["--tier", "district", "--region", "370800", "--role", "inspector"], "district region code"),
    (["--tier", "city", "--region", "370800", "--role", "inspector"], "invalid choice"),
    (["--tier", "national", "--region", "000000", "--role", "root"], "unknown role"),
])
def test_yiwang_token_cli_refuses_bad_input(args: list[str], expected: str) -> None:
    result = _yiwang("token", *args)
    assert result.returncode == 2 and expected in result.stderr and not result.stdout


async def test_a_verified_token_is_remembered_but_not_past_its_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    import time as time_module

    from gateway.auth import tokens
    from gateway.auth.demo import demo_issuer_config, mint_token

    issuer = demo_issuer_config().model_copy(update={"leeway_s": 0})
    authenticator = Authenticator(AuthConfig(issuers=(issuer,)))
    token = mint_token("DISTRICT", "370811", ["inspector"], ttl_s=60)
    verifications = 0
    real = authenticator._verify

    async def counting(*args: Any) -> Any:
        nonlocal verifications
        verifications += 1
        return await real(*args)

    monkeypatch.setattr(authenticator, "_verify", counting)
    for _ in range(5):
        principal = await authenticator.authenticate(f"Bearer {token}")
        assert principal.region_code == "370811"
    assert verifications == 1
    # Past the token's expiry, on the gateway's clock and on PyJWT's, the remembered verification is not used: the
    # token is verified again and refused as expired.
    later = time_module.time() + 61

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.fromtimestamp(later, tz)

    monkeypatch.setattr(tokens.time, "time", lambda: later)
    monkeypatch.setattr(jwt.api_jwt, "datetime", Later)
    assert jwt.decode(token, options={"verify_signature": False})["exp"] < later  # what is presented is expired
    with pytest.raises(AuthenticationError) as refused:
        await authenticator.authenticate(f"Bearer {token}")
    assert refused.value.code == "UNAUTHENTICATED" and refused.value.http_status == 401
    assert "token has expired" in refused.value.message
    assert verifications == 2
