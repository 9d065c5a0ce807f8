"""A bearer JWT (a compact JWS) read once, then checked: signature, then registered claims.

PyJWT's ``decode`` re-reads the token on every call, checking its base64 one character at a time in Python; reading
it three times (header, issuer, verification) cost about twice the ES256 signature check itself. Here the token is
split and decoded once (C-speed base64 and JSON, with PyJWT's strictness: at most two ``=``, the canonical URL-safe
encoding, a JSON object in header and payload), the issuer is chosen from the unverified payload, and the
signature is checked with PyJWT's algorithm objects (``jwt.get_algorithm_by_name``: ``prepare_key``,
``check_key_length``, ``verify``). The claim rules are PyJWT's, kept here with the messages the gateway gives:
``exp``, ``iss`` and ``aud`` required; ``iat``, ``nbf`` and ``exp`` read as integers and checked with the issuer's
leeway; ``aud`` a string or a list of strings containing the configured audience; ``sub`` and ``jti`` strings when
present. ``tests/test_tokens.py`` holds a token to each rule.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import orjson

from gateway.auth.config import EC_ALGORITHMS, RSA_ALGORITHMS, IssuerConfig
from gateway.exceptions import AuthenticationError

MAX_TOKEN_CHARS = 16_384
# Names a token may carry that are worth repeating in an error message; anything else is "an unknown algorithm".
KNOWN_ALGORITHM_NAMES = RSA_ALGORITHMS | EC_ALGORITHMS | {"HS256", "HS384", "HS512", "none", "EdDSA", "ES256K"}
REQUIRED_REGISTERED_CLAIMS = ("exp", "iss", "aud")
UNDERSTOOD_CRITICAL_HEADERS = frozenset({"b64"})  # as PyJWT; b64=false itself is refused below
NOT_A_JWT = "malformed bearer token: not a JWT"


@dataclass(frozen=True, slots=True)
class UnverifiedToken:
    """A token's parts as presented: nothing here is trusted until ``verify_signature`` and ``check_claims``."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    signing_input: bytes
    signature: bytes


def read_token(token: str) -> UnverifiedToken:
    """The header, claims and signature of a compact JWS; AuthenticationError if it is not one."""
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise AuthenticationError(NOT_A_JWT) from None
    parts = raw.split(b".")
    if len(parts) != 3:
        raise AuthenticationError(NOT_A_JWT)
    header = _json_object(_segment(parts[0]))
    if not _header_understood(header):
        raise AuthenticationError(NOT_A_JWT)
    claims = _json_object(_segment(parts[1]))
    return UnverifiedToken(header, claims, raw[: len(parts[0]) + 1 + len(parts[1])], _segment(parts[2]))


def _segment(segment: bytes) -> bytes:
    """base64url as PyJWT reads it: up to two trailing ``=`` (only on a length divisible by 4), and the canonical
    encoding of what it decodes to. The round trip refuses any character outside the URL-safe alphabet (the
    decoder skips it, the encoder never writes it), a length that is one more than a multiple of 4, and stray bits
    in the last character."""
    stripped = segment.rstrip(b"=")
    padding = len(segment) - len(stripped)
    if padding > 2 or (padding and len(segment) % 4):
        raise AuthenticationError(NOT_A_JWT)
    try:
        decoded = base64.urlsafe_b64decode(stripped + b"=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise AuthenticationError(NOT_A_JWT) from None
    if base64.urlsafe_b64encode(decoded).rstrip(b"=") != stripped:
        raise AuthenticationError(NOT_A_JWT)
    return decoded


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise AuthenticationError(NOT_A_JWT) from None
    if not isinstance(value, dict):
        raise AuthenticationError(NOT_A_JWT)
    return value


def _header_understood(header: Mapping[str, Any]) -> bool:
    """``kid`` a string; ``crit`` (when present) lists only extensions understood and present; no detached payload
    (``b64: false``), which a bearer token cannot be."""
    if "kid" in header and not isinstance(header["kid"], str):
        return False
    if header.get("b64", True) is False:
        return False
    if "crit" not in header:
        return True
    crit = header["crit"]
    return (isinstance(crit, list) and bool(crit)
            and all(isinstance(name, str) and name in UNDERSTOOD_CRITICAL_HEADERS and name in header for name in crit))


def describe_alg(alg: Any) -> str:
    return repr(alg) if alg in KNOWN_ALGORITHM_NAMES else "(unknown or missing)"


def verify_signature(token: UnverifiedToken, alg: str, key: Any) -> None:
    """``alg`` has been checked against the issuer's and the key's algorithms; AuthenticationError unless the
    signature is that key's under that algorithm (a key shorter than PyJWT's minimum verifies nothing)."""
    try:
        algorithm = jwt.get_algorithm_by_name(alg)
        prepared = algorithm.prepare_key(key)
    except (NotImplementedError, jwt.PyJWTError):
        raise AuthenticationError("token cannot be verified with the issuer's key") from None
    if algorithm.check_key_length(prepared) is not None:
        raise AuthenticationError("token cannot be verified with the issuer's key")
    if not algorithm.verify(token.signing_input, prepared, token.signature):
        raise AuthenticationError("token signature is invalid")


def check_claims(claims: Mapping[str, Any], issuer: IssuerConfig) -> None:
    """The registered claims of a token whose signature is good, by PyJWT's rules, against the issuer's settings."""
    for name in REQUIRED_REGISTERED_CLAIMS:
        if claims.get(name) is None:
            raise AuthenticationError(f"token lacks the required {name!r} claim")
    now, leeway = time.time(), issuer.leeway_s
    if "iat" in claims and _integer(claims["iat"], "token issued-at (iat) claim is not a number") > now + leeway:
        raise AuthenticationError("token is not yet valid (nbf or iat lies in the future)")
    if "nbf" in claims and _integer(claims["nbf"], "malformed bearer token") > now + leeway:
        raise AuthenticationError("token is not yet valid (nbf or iat lies in the future)")
    if _integer(claims["exp"], "malformed bearer token") <= now - leeway:
        raise AuthenticationError("token has expired")
    if claims["iss"] != issuer.issuer:
        raise AuthenticationError("invalid bearer token (InvalidIssuerError)")
    _check_audience(claims["aud"], issuer.audience)
    if "sub" in claims and not isinstance(claims["sub"], str):
        raise AuthenticationError("invalid bearer token (InvalidSubjectError)")
    if "jti" in claims and not isinstance(claims["jti"], str):
        raise AuthenticationError("invalid bearer token (InvalidJTIError)")


def _integer(value: Any, problem: str) -> int:
    try:
        return int(value)
    except (ValueError, TypeError, OverflowError):
        raise AuthenticationError(problem) from None


def _check_audience(presented: Any, expected: str | tuple[str, ...]) -> None:
    if not presented:
        raise AuthenticationError("token lacks the required 'aud' claim")
    audiences = [presented] if isinstance(presented, str) else presented
    wanted = (expected,) if isinstance(expected, str) else expected
    if (not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences)
            or not any(a in audiences for a in wanted)):
        raise AuthenticationError(f"token audience (aud) does not include {expected!r}")
