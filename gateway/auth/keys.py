"""Where an issuer's verification keys come from: a JWKS file or an inline JWKS (read at start-up), an HS256 secret
(development only), or a JWKS URL fetched asynchronously, cached and refetched when a token names a key id it lacks
(key rotation). Only an identity provider that cannot be reached, with no copy of its keys at hand, gives
``UpstreamUnavailable``: the caller's token may be fine, and a 401 would send them to log in again for nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt

from gateway.auth.config import AuthConfig, IssuerConfig
from gateway.exceptions import ConfigurationError, UpstreamUnavailable

log = logging.getLogger(__name__)

EC_CURVE_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
MAX_JWKS_BYTES = 1_048_576
IDP_DEPARTMENT = "identity-provider"

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class VerificationKey:
    key: Any  # a cryptography public key, or the HS256 secret bytes
    algorithms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeySet:
    by_kid: Mapping[str, VerificationKey]
    all: tuple[VerificationKey, ...]
    kid_ignored: bool = False  # a shared secret has no key id; a JWKS key is found by its kid

    def find(self, kid: str | None) -> VerificationKey | None:
        if kid is not None and not self.kid_ignored:
            return self.by_kid.get(kid)
        return self.all[0] if len(self.all) == 1 else None


def key_set_from_jwks(jwks: Mapping[str, Any], issuer: IssuerConfig) -> KeySet:
    """The signing keys of a JWKS that fit the issuer's algorithm family; others (encryption keys, other key types)
    are skipped. Raises ValueError if none is usable."""
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise ValueError("a JWKS is an object with a 'keys' list")
    by_kid: dict[str, VerificationKey] = {}
    usable: list[VerificationKey] = []
    for entry in entries:
        key = _verification_key(entry, issuer)
        if key is None:
            continue
        usable.append(key)
        if isinstance(entry.get("kid"), str):
            by_kid[entry["kid"]] = key
    if not usable:
        raise ValueError(f"no {issuer.family} signing key for algorithms {list(issuer.algorithms)} in the JWKS")
    return KeySet(by_kid=by_kid, all=tuple(usable))


def _verification_key(entry: Any, issuer: IssuerConfig) -> VerificationKey | None:
    if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
        return None
    kty, family = entry.get("kty"), issuer.family
    if (family, kty) == ("RSA", "RSA"):
        candidates = set(issuer.algorithms)
    elif (family, kty) == ("EC", "EC"):
        candidates = {EC_CURVE_ALGORITHMS.get(entry.get("crv", ""), "")}
    else:
        return None
    if "alg" in entry:
        candidates &= {entry["alg"]}
    algorithms = tuple(sorted(candidates & set(issuer.algorithms)))
    if not algorithms:
        return None
    try:
        return VerificationKey(key=jwt.PyJWK(entry, algorithms[0]).key, algorithms=algorithms)
    except jwt.PyJWTError as exc:
        log.warning("issuer %s: skipping an unusable JWKS key: %s", issuer.issuer, exc)
        return None


class StaticKeys:
    """Keys known at start-up: a JWKS file (read once), an inline JWKS, or an HS256 secret."""

    def __init__(self, issuer: IssuerConfig) -> None:
        self._keys = _static_key_set(issuer)

    async def get(self) -> KeySet:
        return self._keys

    async def refresh(self) -> KeySet | None:
        return None


def _static_key_set(issuer: IssuerConfig) -> KeySet:
    if issuer.hs256_secret is not None:
        key = VerificationKey(key=issuer.hs256_secret.get_secret_value().encode(), algorithms=("HS256",))
        return KeySet(by_kid={}, all=(key,), kid_ignored=True)
    try:
        jwks = issuer.jwks if issuer.jwks is not None else json.loads(Path(str(issuer.jwks_file)).read_bytes())
        return key_set_from_jwks(jwks, issuer)
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigurationError(f"issuer {issuer.issuer!r}: unusable JWKS: {exc}") from exc


class RemoteKeys:
    """A JWKS URL: fetched on first use, cached for the TTL, refetched early (at most once per refresh interval) when
    a token names a ``kid`` the cached set lacks. Concurrent callers share one fetch. When a fetch fails the last good
    set stays in use."""

    def __init__(self, issuer: IssuerConfig, config: AuthConfig, client: Callable[[], httpx.AsyncClient],
                 clock: Clock) -> None:
        self._issuer, self._config, self._client, self._clock = issuer, config, client, clock
        self._keys: KeySet | None = None
        self._fetched_at = -float("inf")
        self._attempted_at = -float("inf")
        self._lock = asyncio.Lock()

    async def get(self) -> KeySet:
        if self._keys is not None and self._clock() - self._fetched_at < self._config.jwks_cache_ttl_s:
            return self._keys
        async with self._lock:
            if self._keys is None or self._clock() - self._fetched_at >= self._config.jwks_cache_ttl_s:
                await self._fetch_unless_recent()
            return self._available()

    async def refresh(self) -> KeySet | None:
        attempted = self._attempted_at
        async with self._lock:
            if self._attempted_at == attempted:  # nobody refreshed while we waited for the lock
                await self._fetch_unless_recent()
            return self._available()

    def _available(self) -> KeySet:
        if self._keys is None:
            raise UpstreamUnavailable(IDP_DEPARTMENT, f"signing keys of issuer {self._issuer.issuer!r} are unavailable")
        return self._keys

    async def _fetch_unless_recent(self) -> None:
        if self._clock() - self._attempted_at < self._config.jwks_refresh_interval_s:
            return
        self._attempted_at = self._clock()
        try:
            self._keys = await self._fetch()
            self._fetched_at = self._clock()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("issuer %s: JWKS fetch from %s failed: %s", self._issuer.issuer, self._issuer.jwks_url, exc)

    async def _fetch(self) -> KeySet:
        response = await self._client().get(str(self._issuer.jwks_url), timeout=self._config.jwks_fetch_timeout_s)
        response.raise_for_status()
        if len(response.content) > MAX_JWKS_BYTES:
            raise ValueError(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
        return key_set_from_jwks(response.json(), self._issuer)
