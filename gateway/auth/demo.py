"""The demo issuer: a committed, therefore public, EC P-256 key that signs development tokens.

Trust it only in demo mode (``demo_auth_config``): anyone with the repository can mint any principal with it.
``yiwang token`` and ``yiwang demo`` use ``mint_token`` and ``demo_tokens``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwt.algorithms import ECAlgorithm

from gateway.auth.config import AuthConfig, ClaimNames, IssuerConfig
from gateway.auth.principal import Role, Tier, tier_region_problem

DEMO_ISSUER = "yiwang-demo"
DEMO_AUDIENCE = "yiwang"
DEMO_KEY_ID = "yiwang-demo-1"
DEMO_ALGORITHM = "ES256"
DEMO_KEY_FILE = "demo_signing_key.pem"
DEFAULT_TOKEN_TTL_S = 3600
DEMO_TOKEN_TTL_S = 24 * 3600  # the tokens `yiwang demo` prints should outlast a day of trying things out

# (label, subject, tier, region, roles): one persona per tier, plus a platform administrator.
DEMO_PERSONAS: tuple[tuple[str, str, Tier, str, tuple[Role, ...]], ...] = (
    ("national analyst", "demo-national-analyst", Tier.NATIONAL, "000000", (Role.VIEWER,)),
    ("provincial supervisor (Shandong)", "demo-provincial-supervisor", Tier.PROVINCIAL, "370000", (Role.VIEWER,)),
    ("municipal dispatcher (Jining)", "demo-municipal-dispatcher", Tier.MUNICIPAL, "370800", (Role.DISPATCHER,)),
    ("district inspector (Rencheng)", "demo-district-inspector", Tier.DISTRICT, "370811", (Role.INSPECTOR,)),
    ("platform admin", "demo-platform-admin", Tier.NATIONAL, "000000", (Role.PLATFORM_ADMIN,)),
)


@cache
def _signing_key() -> EllipticCurvePrivateKey:
    pem = resources.files(__package__).joinpath(DEMO_KEY_FILE).read_bytes()
    key = load_pem_private_key(pem[pem.index(b"-----BEGIN"):], password=None)
    if not isinstance(key, EllipticCurvePrivateKey):
        raise TypeError(f"{DEMO_KEY_FILE} must hold an EC private key")
    return key


def demo_jwks() -> dict[str, Any]:
    jwk = ECAlgorithm.to_jwk(_signing_key().public_key(), as_dict=True)
    return {"keys": [{**jwk, "kid": DEMO_KEY_ID, "alg": DEMO_ALGORITHM, "use": "sig"}]}


def demo_issuer_config() -> IssuerConfig:
    return IssuerConfig(issuer=DEMO_ISSUER, audience=DEMO_AUDIENCE, jwks=demo_jwks(), algorithms=(DEMO_ALGORITHM,))


def demo_auth_config(anonymous: Literal["reject", "public"] = "public") -> AuthConfig:
    """Demo mode: the demo issuer and anonymous callers as PUBLIC principals."""
    return AuthConfig(issuers=(demo_issuer_config(),), anonymous=anonymous)


def mint_token(tier: Tier | str, region: str, roles: Iterable[Role | str], departments: Iterable[str] | None = None,
               ttl_s: int = DEFAULT_TOKEN_TTL_S, subject: str | None = None) -> str:
    """A token for the demo issuer; ValueError for an unknown tier or role, or a region that does not fit the tier."""
    tier = _tier(tier)
    problem = tier_region_problem(tier, region)
    if problem is not None:
        raise ValueError(problem)
    role_values = sorted({_role(role).value for role in roles})
    if not role_values:
        raise ValueError("a token needs at least one role")
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    now = int(time.time())
    names = ClaimNames()
    claims: dict[str, Any] = {
        "iss": DEMO_ISSUER, "aud": DEMO_AUDIENCE, "iat": now, "nbf": now, "exp": now + ttl_s, "jti": uuid.uuid4().hex,
        names.subject: subject or f"demo-{tier.value.lower()}-{region}",
        names.tier: tier.value, names.region: region, names.roles: role_values,
    }
    if departments is not None:
        claims[names.departments] = sorted(set(departments))
    return jwt.encode(claims, _signing_key(), algorithm=DEMO_ALGORITHM, headers={"kid": DEMO_KEY_ID})


def demo_tokens(ttl_s: int = DEMO_TOKEN_TTL_S) -> dict[str, str]:
    """One ready token per tier (and one for a platform admin), keyed by a label such as
    ``"municipal dispatcher (Jining) — MUNICIPAL 370800 dispatcher"``."""
    return {f"{label} — {tier.value} {region} {' '.join(role.value for role in roles)}":
            mint_token(tier, region, roles, ttl_s=ttl_s, subject=subject)
            for label, subject, tier, region, roles in DEMO_PERSONAS}


def _tier(tier: Tier | str) -> Tier:
    value = tier if isinstance(tier, Tier) else Tier.__members__.get(tier.upper())
    if value is None or value is Tier.PUBLIC:
        raise ValueError(f"unknown tier {tier!r}; use national, provincial, municipal or district")
    return value


def _role(role: Role | str) -> Role:
    try:
        return role if isinstance(role, Role) else Role(role.lower())
    except ValueError:
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}") from None
