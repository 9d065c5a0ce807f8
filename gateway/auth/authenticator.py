"""The authenticator: an ``Authorization: Bearer`` JWT, verified against the trusted issuer it names, becomes a
``Principal``.

Every failure is an ``AuthenticationError`` (401) whose message says what is wrong without echoing the token. The
token is read once (``gateway.auth.tokens``); its issuer, from the unverified payload, picks the configuration that
decides how it may be verified, so a token never chooses its own algorithm or key.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx

from gateway.auth.claims import principal_from_claims
from gateway.auth.config import AuthConfig, IssuerConfig
from gateway.auth.keys import Clock, RemoteKeys, StaticKeys, VerificationKey
from gateway.auth.principal import Principal
from gateway.auth.tokens import (
    MAX_TOKEN_CHARS,
    UnverifiedToken,
    check_claims,
    describe_alg,
    read_token,
    verify_signature,
)
from gateway.exceptions import AuthenticationError

# Verifying a signature is the largest part of a sign-in; a front end sends the same token with every request.
# A verified token is remembered briefly (never past its own expiry), so a key withdrawn from the JWKS stops
# working within this time.
VERIFIED_TOKEN_CACHE_SIZE = 10_000
VERIFIED_TOKEN_CACHE_TTL_S = 60.0


@dataclass(frozen=True, slots=True)
class _TrustedIssuer:
    config: IssuerConfig
    keys: StaticKeys | RemoteKeys


class Authenticator:
    """Turns an ``Authorization`` header into a ``Principal`` (claim mapping: ``gateway.auth.claims``)."""

    def __init__(self, config: AuthConfig, *, client: httpx.AsyncClient | None = None,
                 clock: Clock = time.monotonic) -> None:
        self.config = config
        self._client, self._owns_client = client, client is None
        self._issuers = {issuer.issuer: _TrustedIssuer(issuer, self._key_source(issuer, clock))
                         for issuer in config.issuers}
        self._clock = clock
        self._verified: OrderedDict[str, tuple[Principal, float, float]] = OrderedDict()

    def _key_source(self, issuer: IssuerConfig, clock: Clock) -> StaticKeys | RemoteKeys:
        if issuer.jwks_url is not None:
            return RemoteKeys(issuer, self.config, self._http_client, clock)
        return StaticKeys(issuer)

    def _http_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.jwks_fetch_timeout_s, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def authenticate(self, authorization_header: str | None) -> Principal:
        if authorization_header is None or not authorization_header.strip():
            if self.config.anonymous == "public":
                return Principal.public()
            raise AuthenticationError("missing bearer token")
        token = _bearer_token(authorization_header)
        remembered = self._remembered(token)
        if remembered is not None:
            return remembered
        unverified = read_token(token)
        issuer = self._issuer_of(unverified)
        await self._verify(unverified, issuer)
        claims = unverified.claims
        principal = principal_from_claims(claims, self.config.claims, issuer.config.issuer)
        self._remember(token, principal, float(claims["exp"]) + issuer.config.leeway_s)
        return principal

    def _remembered(self, token: str) -> Principal | None:
        entry = self._verified.get(token)
        if entry is None:
            return None
        principal, expires_at, verified_at = entry
        if time.time() >= expires_at or self._clock() - verified_at >= VERIFIED_TOKEN_CACHE_TTL_S:
            del self._verified[token]
            return None
        self._verified.move_to_end(token)
        return principal

    def _remember(self, token: str, principal: Principal, expires_at: float) -> None:
        self._verified[token] = (principal, expires_at, self._clock())
        if len(self._verified) > VERIFIED_TOKEN_CACHE_SIZE:
            self._verified.popitem(last=False)

    def _issuer_of(self, token: UnverifiedToken) -> _TrustedIssuer:
        """The trusted issuer the (unverified) token names."""
        iss = token.claims.get("iss")
        if not isinstance(iss, str):
            raise AuthenticationError("token has no issuer (iss) claim")
        trusted = self._issuers.get(iss)
        if trusted is None:
            raise AuthenticationError("token issuer (iss) is not trusted")
        return trusted

    async def _verify(self, token: UnverifiedToken, issuer: _TrustedIssuer) -> None:
        alg, kid, config = token.header.get("alg"), token.header.get("kid"), issuer.config
        if alg not in config.algorithms:
            raise AuthenticationError(f"token algorithm {describe_alg(alg)} is not accepted for issuer "
                                      f"{config.issuer!r} (accepted: {', '.join(config.algorithms)})")
        key = await self._key_for(issuer, kid)
        if alg not in key.algorithms:
            raise AuthenticationError(f"token algorithm {describe_alg(alg)} does not fit the signing key")
        verify_signature(token, alg, key.key)
        check_claims(token.claims, config)

    async def _key_for(self, issuer: _TrustedIssuer, kid: str | None) -> VerificationKey:
        keys = await issuer.keys.get()
        key = keys.find(kid)
        if key is None and kid is not None:
            refreshed = await issuer.keys.refresh()
            key = refreshed.find(kid) if refreshed is not None else None
        if key is not None:
            return key
        name = issuer.config.issuer
        if kid is None:
            raise AuthenticationError(f"token has no key id (kid), and issuer {name!r} has several keys")
        raise AuthenticationError(f"token key id (kid) is not a signing key of issuer {name!r}")


def _bearer_token(authorization_header: str) -> str:
    scheme, *rest = authorization_header.split(None, 1)
    if scheme.lower() != "bearer":
        raise AuthenticationError("unsupported authorization scheme; send 'Authorization: Bearer <token>'")
    token = rest[0].strip() if rest else ""
    if not token:
        raise AuthenticationError("empty bearer token")
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthenticationError(f"bearer token longer than {MAX_TOKEN_CHARS} characters")
    return token
