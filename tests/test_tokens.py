"""A bearer token read once and checked by PyJWT's rules (gateway/auth/tokens.py): each rule has a token here that
only it refuses, next to a token that passes, so that dropping or loosening a rule fails a test. The oracle is
PyJWT itself where it has an opinion (``jwt.decode`` with the same settings must agree on every token here)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from gateway.auth.authenticator import Authenticator
from gateway.auth.config import AuthConfig, IssuerConfig
from gateway.exceptions import AuthenticationError

ISSUER, AUDIENCE, KID = "https://idp.city.test", "yiwang", "ec-1"
KEY = ec.generate_private_key(ec.SECP256R1())
LEEWAY_S = 30


def config(audience: str | tuple[str, ...] = AUDIENCE) -> AuthConfig:
    jwk = {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": KID, "use": "sig"}
    return AuthConfig(issuers=(IssuerConfig(issuer=ISSUER, audience=audience, jwks={"keys": [jwk]},
                                            algorithms=("ES256",), leeway_s=LEEWAY_S),))


class FromNow(int):
    """A time claim given as seconds from the moment the token is made (parameters are built long before)."""


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "li.na", "iat": now, "nbf": now, "exp": now + 600,
                            "tier": "DISTRICT", "regionCode": "370811", "roles": ["inspector"]}
    base.update({name: now + int(value) if isinstance(value, FromNow) else value for name, value in overrides.items()})
    return {name: value for name, value in base.items() if value is not None}


def token(headers: dict[str, Any] | None = None, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), KEY, algorithm="ES256", headers={"kid": KID, **(headers or {})})


def pyjwt_accepts(text: str, audience: str | tuple[str, ...] = AUDIENCE) -> bool:
    try:
        jwt.decode(text, KEY.public_key(), algorithms=["ES256"], audience=audience, issuer=ISSUER, leeway=LEEWAY_S,
                   options={"require": ["exp", "iss", "aud"]})
    except jwt.PyJWTError:
        return False
    return True


async def refusal(text: str, audience: str | tuple[str, ...] = AUDIENCE) -> str | None:
    """None if the gateway accepts the token, else its message; PyJWT must come to the same verdict."""
    try:
        await Authenticator(config(audience)).authenticate(f"Bearer {text}")
    except AuthenticationError as exc:
        assert not pyjwt_accepts(text, audience), f"PyJWT accepts what the gateway refuses: {exc.message}"
        return exc.message
    assert pyjwt_accepts(text, audience), "the gateway accepts what PyJWT refuses"
    return None


def segments(text: str) -> list[str]:
    return text.split(".")


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"exp": FromNow(-LEEWAY_S - 5)}, "token has expired"),
    ({"exp": "soon"}, "malformed bearer token"),
    ({"nbf": FromNow(LEEWAY_S + 60)}, "not yet valid"),
    ({"nbf": "later"}, "malformed bearer token"),
    ({"iat": FromNow(LEEWAY_S + 60)}, "not yet valid"),
    ({"iat": "yesterday"}, "issued-at (iat) claim is not a number"),
    ({"aud": ["another-system", 7]}, "audience (aud) does not include"),
    ({"aud": [AUDIENCE, 7]}, "audience (aud) does not include"),
    ({"aud": ["another-system"]}, "audience (aud) does not include"),
    ({"aud": {"name": AUDIENCE}}, "audience (aud) does not include"),
    ({"aud": ""}, "lacks the required 'aud' claim"),
    ({"iss": None}, "no issuer (iss) claim"),
    ({"exp": None}, "lacks the required 'exp' claim"),
    ({"sub": 12345}, "InvalidSubjectError"),
    ({"jti": 12345}, "InvalidJTIError"),
])
async def test_each_claim_rule_refuses_its_token(overrides: dict[str, Any], expected: str) -> None:
    message = await refusal(token(**overrides))
    assert message is not None and expected in message


@pytest.mark.parametrize("overrides", [
    {"exp": FromNow(-LEEWAY_S + 5)},  # expired, but within the leeway
    {"nbf": FromNow(LEEWAY_S - 5), "iat": FromNow(LEEWAY_S - 5)},  # a clock slightly ahead
    {"aud": ["another-system", AUDIENCE]},
    {"nbf": None, "iat": None, "jti": "a1b2"},
])
async def test_tokens_within_the_rules_pass(overrides: dict[str, Any]) -> None:
    assert await refusal(token(**overrides)) is None


async def test_one_of_several_configured_audiences_is_enough() -> None:
    assert await refusal(token(aud="dashboard"), audience=("yiwang", "dashboard")) is None
    assert "does not include" in (await refusal(token(aud="other"), audience=("yiwang", "dashboard")) or "")


@pytest.mark.parametrize(("headers", "kind"), [
    ({"crit": ["exp-v2"], "exp-v2": 1}, "an unknown critical extension"),
    ({"crit": []}, "an empty crit list"),
    ({"crit": ["b64"]}, "a critical extension that is absent"),
])
async def test_headers_not_understood_are_refused(headers: dict[str, Any], kind: str) -> None:
    message = await refusal(token(headers))
    assert message is not None and "malformed bearer token" in message, kind


def _header_with(**fields: Any) -> str:
    header = {"alg": "ES256", "typ": "JWT", "kid": KID, **fields}
    return base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()


def _sign(header: str, payload: str) -> str:
    signing_input = f"{header}.{payload}".encode()
    signature = ECAlgorithm(ECAlgorithm.SHA256).sign(signing_input, KEY)
    return f"{header}.{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


async def test_a_kid_that_is_not_a_string_or_a_detached_payload_is_refused() -> None:
    payload = segments(token())[1]
    for header in (_header_with(kid=7), _header_with(b64=False)):
        message = await refusal(_sign(header, payload))
        assert message is not None and "malformed bearer token" in message


async def test_base64_is_read_as_strictly_as_pyjwt_reads_it() -> None:
    header, payload, signature = segments(token())
    padded = payload + "=" * (-len(payload) % 4)
    if padded != payload:  # trailing '=' on a segment of a length divisible by 4 is accepted, as by PyJWT
        assert await refusal(_sign(header, padded)) is None
    one_over = payload + "A" * ((1 - len(payload)) % 4 or 4)  # a length of 4n + 1 decodes to no whole byte
    wrongly_padded = payload + "=" if len(payload) % 4 == 0 else payload + "A="
    for bad in (payload + "===", payload[:-1] + "!", payload[:-1] + "+", one_over, wrongly_padded,
                f"{payload}.{payload}"):
        message = await refusal(_sign(header, bad))
        assert message is not None and "malformed bearer token" in message, bad
    # A last character with stray low bits decodes to the same bytes but is not the canonical encoding.
    last = signature[-1]
    stray = next(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                 if c != last and base64.urlsafe_b64decode(signature[:-1] + c + "=" * (-len(signature) % 4)) ==
                 base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    message = await refusal(f"{header}.{payload}.{signature[:-1]}{stray}")
    assert message is not None and "malformed bearer token" in message


async def test_non_ascii_and_non_object_tokens_are_malformed() -> None:
    header, payload, signature = segments(token())
    as_list = base64.urlsafe_b64encode(b"[1, 2]").rstrip(b"=").decode()
    for text in (f"{header}.{payload}.{signature}é", f"{header}.{as_list}.{signature}", f"{as_list}.{payload}.x"):
        message = await refusal(text)
        assert message is not None and "malformed bearer token" in message
