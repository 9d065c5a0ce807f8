"""Claim mapping: the claims of a verified token become a ``Principal``. Claim names are configurable
(``ClaimNames``), so a city's existing identity provider works unchanged.

Roles: unknown role values are ignored (an IdP serves many applications and puts their roles in the same claim), but
at least one known role is required — a token with none carries no permission here, and rejecting it at the door
gives a clearer message than an empty view later. ``departments``: an absent claim means "not limited to some
departments"; a present one, even empty, limits the principal to what it lists (fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.auth.config import ClaimNames
from gateway.auth.principal import Principal, Role, Tier, tier_region_problem
from gateway.exceptions import AuthenticationError

MAX_ECHOED_CLAIM_CHARS = 40
LIST_SEPARATORS = re.compile(r"[\s,]+")
KNOWN_ROLES = frozenset(role.value for role in Role)


def principal_from_claims(claims: Mapping[str, Any], names: ClaimNames, issuer: str | None = None) -> Principal:
    """The ``Principal`` a verified token describes; AuthenticationError if a claim is missing or does not fit."""
    subject = _required_claim(claims, names.subject)
    if not isinstance(subject, str) or not subject:
        raise AuthenticationError(f"token claim {names.subject!r} (subject) must be a non-empty string")
    tier = _tier(_required_claim(claims, names.tier), names)
    region = _region(_required_claim(claims, names.region), names.region)
    problem = tier_region_problem(tier, region)
    if problem is not None:
        raise AuthenticationError(f"token region does not fit its tier: {problem}")
    roles = _roles(_required_claim(claims, names.roles), names)
    departments_claim = _claim(claims, names.departments)
    departments = None if departments_claim is None else frozenset(_string_list(departments_claim, names.departments))
    return Principal(subject=subject, tier=tier, region_code=region, roles=roles, departments=departments,
                     issuer=issuer)


def _claim(claims: Mapping[str, Any], name: str) -> Any:
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _required_claim(claims: Mapping[str, Any], name: str) -> Any:
    value = _claim(claims, name)
    if value is None:
        raise AuthenticationError(f"token lacks the {name!r} claim")
    return value


def _echo(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_ECHOED_CLAIM_CHARS else text[: MAX_ECHOED_CLAIM_CHARS - 1] + "…"


def _tier(value: Any, names: ClaimNames) -> Tier:
    if isinstance(value, str):
        if value in names.tier_aliases:
            return names.tier_aliases[value]
        tier = Tier.__members__.get(value.upper())
        if tier is not None and tier is not Tier.PUBLIC:
            return tier
    expected = ", ".join(t.value for t in Tier if t is not Tier.PUBLIC)
    raise AuthenticationError(f"token claim {names.tier!r} has unknown tier {_echo(value)}; expected one of "
                              f"{expected} (or map it in claims.tier_aliases)")


def _region(value: Any, claim: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise AuthenticationError(f"token claim {claim!r} must be a GB/T 2260 region code string")
    return value.strip()


def _roles(value: Any, names: ClaimNames) -> frozenset[str]:
    roles: set[str] = set()
    for raw in _string_list(value, names.roles):
        alias = names.role_aliases.get(raw)
        if alias is not None:
            roles.add(alias.value)
        elif raw.lower() in KNOWN_ROLES:
            roles.add(raw.lower())
    if not roles:
        raise AuthenticationError(f"token claim {names.roles!r} has no known role; expected at least one of "
                                  f"{', '.join(sorted(KNOWN_ROLES))} (or map the IdP's names in claims.role_aliases)")
    return frozenset(roles)


def _string_list(value: Any, claim: str) -> list[str]:
    """A claim given as a list of strings, or as one string separated by spaces and/or commas."""
    if isinstance(value, str):
        return [item for item in LIST_SEPARATORS.split(value) if item]
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise AuthenticationError(f"token claim {claim!r} must be a list of strings or a space/comma-separated string")
