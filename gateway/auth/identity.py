"""Identity: a bearer JWT, verified against a configured issuer, becomes a ``Principal``.

Each issuer names one key source (a JWKS URL, a JWKS file, an inline JWKS, or — for development only — an HS256
secret) and one algorithm family, so a token can never choose how it is verified: ``alg=none`` and key confusion (an
HS256 token "signed" with an RSA public key) are refused before any key is touched. Claim names are configurable, so
a city's existing identity provider works unchanged.

Every failure is an ``AuthenticationError`` (401) whose message says what is wrong without echoing the token. Only an
identity provider that cannot be reached, with no copy of its keys at hand, gives ``UpstreamUnavailable`` instead:
the caller's token may be fine, and a 401 would send them to log in again for nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import jwt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.auth.principal import Principal, Role, Tier, tier_region_problem
from gateway.exceptions import AuthenticationError, ConfigurationError, UpstreamUnavailable

log = logging.getLogger(__name__)

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512"})
HMAC_ALGORITHMS = frozenset({"HS256"})
ALGORITHM_FAMILIES: dict[str, frozenset[str]] = {"RSA": RSA_ALGORITHMS, "EC": EC_ALGORITHMS, "HMAC": HMAC_ALGORITHMS}
# Names a token may carry that are worth repeating in an error message; anything else is "an unknown algorithm".
KNOWN_ALGORITHM_NAMES = RSA_ALGORITHMS | EC_ALGORITHMS | {"HS256", "HS384", "HS512", "none", "EdDSA", "ES256K"}
EC_CURVE_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}

DEFAULT_JWKS_ALGORITHMS = ("RS256",)
DEFAULT_LEEWAY_S = 30.0
MAX_LEEWAY_S = 300.0
MIN_HS256_SECRET_LENGTH = 32
DEFAULT_JWKS_CACHE_TTL_S = 300.0
DEFAULT_JWKS_REFRESH_INTERVAL_S = 10.0
DEFAULT_JWKS_FETCH_TIMEOUT_S = 5.0
# Verifying a signature costs about a millisecond of CPU; a front end sends the same token with every request.
# A verified token is remembered briefly (never past its own expiry), so a key withdrawn from the JWKS stops
# working within this time.
VERIFIED_TOKEN_CACHE_SIZE = 10_000
VERIFIED_TOKEN_CACHE_TTL_S = 60.0
MAX_JWKS_BYTES = 1_048_576
MAX_TOKEN_CHARS = 16_384
MAX_ECHOED_CLAIM_CHARS = 40
REQUIRED_REGISTERED_CLAIMS = ("exp", "iss", "aud")
LIST_SEPARATORS = re.compile(r"[\s,]+")
IDP_DEPARTMENT = "identity-provider"
KEY_SOURCES = ("jwks_url", "jwks_file", "jwks", "hs256_secret")

Clock = Callable[[], float]


class IssuerConfig(BaseModel):
    """One trusted token issuer: exactly one key source and one algorithm family."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1, description="Expected `iss` claim; also picks this issuer for a token")
    audience: str | tuple[str, ...] = Field(
        description="Expected `aud`: the token's audience must contain this value (or one of these values)")
    jwks_url: str | None = Field(
        None, description="URL of the issuer's JWKS (https outside a lab), fetched asynchronously and cached")
    jwks_file: Path | None = Field(
        None, description="JWKS file, read once at start-up; relative paths are relative to the auth config file")
    jwks: dict[str, Any] | None = Field(None, description="Inline JWKS (`{\"keys\": [...]}`)")
    hs256_secret: SecretStr | None = Field(
        None, description=f"Shared HS256 secret (≥ {MIN_HS256_SECRET_LENGTH} characters); development only")
    allow_hs256: bool = Field(False, description="Must be true for an HS256 issuer: a deliberate development opt-in")
    algorithms: tuple[str, ...] = Field(
        DEFAULT_JWKS_ALGORITHMS,
        description="Accepted `alg` values, all of one family (RS*/PS*, ES*, or HS256); default RS256, or HS256 "
                    "for an `hs256_secret` issuer")
    leeway_s: float = Field(DEFAULT_LEEWAY_S, ge=0, le=MAX_LEEWAY_S,
                            description="Clock skew tolerated on exp, nbf and iat, seconds")

    @model_validator(mode="before")
    @classmethod
    def _hs256_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("hs256_secret") is not None and "algorithms" not in data:
            return {**data, "algorithms": tuple(HMAC_ALGORITHMS)}
        return data

    @field_validator("jwks_file")
    @classmethod
    def _relative_to_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        base = (info.context or {}).get("base_dir")
        return Path(base) / value if value is not None and base is not None and not value.is_absolute() else value

    @field_validator("hs256_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_HS256_SECRET_LENGTH:
            raise ValueError(f"hs256_secret must be at least {MIN_HS256_SECRET_LENGTH} characters")
        return value

    @field_validator("jwks_url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("jwks_url must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _one_source_one_family(self) -> IssuerConfig:
        sources = [name for name in KEY_SOURCES if getattr(self, name) is not None]
        if len(sources) != 1:
            raise ValueError(f"issuer {self.issuer!r}: give exactly one of jwks_url, jwks_file, jwks, hs256_secret "
                             f"(got {sources or 'none'})")
        family = self.family
        if family == "HMAC" and self.hs256_secret is None:
            raise ValueError(f"issuer {self.issuer!r}: HS256 needs hs256_secret")
        if family != "HMAC" and self.hs256_secret is not None:
            raise ValueError(f"issuer {self.issuer!r}: hs256_secret goes with algorithms [\"HS256\"] only")
        if family == "HMAC" and not self.allow_hs256:
            raise ValueError(f"issuer {self.issuer!r}: HS256 is for development only; set allow_hs256: true")
        return self

    @property
    def family(self) -> str:
        """The one algorithm family of ``algorithms``; raises ValueError for mixed, unknown or no algorithms."""
        families = {name for name, members in ALGORITHM_FAMILIES.items() for alg in self.algorithms if alg in members}
        unknown = sorted(set(self.algorithms) - RSA_ALGORITHMS - EC_ALGORITHMS - HMAC_ALGORITHMS)
        if unknown or not self.algorithms:
            raise ValueError(f"issuer {self.issuer!r}: unsupported algorithms {unknown}; use RS256/RS384/RS512/PS256/"
                             "PS384/PS512, ES256/ES384/ES512, or HS256")
        if len(families) != 1:
            raise ValueError(f"issuer {self.issuer!r}: algorithms mix families {sorted(families)}; use one")
        return families.pop()


class ClaimNames(BaseModel):
    """Where the principal's attributes are in a token. A name is looked up as a claim first; if there is no such
    claim and the name has dots, as a path into nested claims (``realm_access.roles``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = Field("sub", description="Claim holding the caller's id")
    tier: str = Field("tier", description="Claim holding NATIONAL | PROVINCIAL | MUNICIPAL | DISTRICT (any case)")
    region: str = Field("regionCode", description="Claim holding the GB/T 2260 region code the tier governs")
    roles: str = Field("roles", description="Claim holding roles: a list, or one space/comma-separated string")
    departments: str = Field(
        "departments", description="Claim holding departments (list or string); absent: not limited to departments")
    tier_aliases: dict[str, Tier] = Field(
        default_factory=dict, description="The IdP's own tier values mapped to tiers, e.g. {\"city\": \"MUNICIPAL\"}")
    role_aliases: dict[str, Role] = Field(
        default_factory=dict, description="The IdP's own role names mapped to roles, e.g. {\"cg_pq\": \"dispatcher\"}")


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    issuers: tuple[IssuerConfig, ...] = Field((), description="Trusted issuers; a token is checked by its `iss`")
    claims: ClaimNames = Field(default_factory=ClaimNames, description="Claim names (defaults: see ClaimNames)")
    anonymous: Literal["reject", "public"] = Field(
        "reject", description="No Authorization header: `reject` (401) or a PUBLIC principal (public data only)")
    jwks_cache_ttl_s: float = Field(DEFAULT_JWKS_CACHE_TTL_S, gt=0, description="How long a fetched JWKS is used")
    jwks_refresh_interval_s: float = Field(
        DEFAULT_JWKS_REFRESH_INTERVAL_S, ge=0,
        description="Least time between two fetches of one JWKS, so tokens with made-up `kid`s cannot flood the IdP")
    jwks_fetch_timeout_s: float = Field(DEFAULT_JWKS_FETCH_TIMEOUT_S, gt=0, description="Timeout of a JWKS fetch")

    @field_validator("issuers")
    @classmethod
    def _issuers_unique(cls, value: tuple[IssuerConfig, ...]) -> tuple[IssuerConfig, ...]:
        names = [issuer.issuer for issuer in value]
        if len(names) != len(set(names)):
            raise ValueError("each issuer may be configured once")
        return value


def load_auth_config(path: str | Path) -> AuthConfig:
    """Read an ``AuthConfig`` from a JSON file; ``jwks_file`` paths are relative to that file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return AuthConfig.model_validate(data, context={"base_dir": path.parent})
    except (OSError, ValueError, ValidationError) as exc:
        raise ConfigurationError(f"invalid auth config {str(path)!r}: {exc}") from exc


# ---------------------------------------------------------------------------------------------------------- keys


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


# ----------------------------------------------------------------------------------------------- authenticator


@dataclass(frozen=True, slots=True)
class _TrustedIssuer:
    config: IssuerConfig
    keys: StaticKeys | RemoteKeys


class Authenticator:
    """Turns an ``Authorization`` header into a ``Principal``.

    Roles: unknown role values are ignored (an IdP serves many applications and puts their roles in the same claim),
    but at least one known role is required — a token with none carries no permission here, and rejecting it at the
    door gives a clearer message than an empty view later. ``departments``: an absent claim means "not limited to
    some departments"; a present one, even empty, limits the principal to what it lists (fail closed).
    """

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
        issuer, header = self._issuer_of(token)
        claims = await self._verified_claims(token, issuer, header)
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

    def _issuer_of(self, token: str) -> tuple[_TrustedIssuer, dict[str, Any]]:
        """The trusted issuer the token names, and its (unverified) header."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthenticationError("malformed bearer token: not a JWT") from None
        iss = unverified.get("iss")
        if not isinstance(iss, str):
            raise AuthenticationError("token has no issuer (iss) claim")
        trusted = self._issuers.get(iss)
        if trusted is None:
            raise AuthenticationError("token issuer (iss) is not trusted")
        return trusted, header

    async def _verified_claims(self, token: str, issuer: _TrustedIssuer, header: Mapping[str, Any]) -> dict[str, Any]:
        alg, kid, config = header.get("alg"), header.get("kid"), issuer.config
        if alg not in config.algorithms:
            raise AuthenticationError(f"token algorithm {_describe_alg(alg)} is not accepted for issuer "
                                      f"{config.issuer!r} (accepted: {', '.join(config.algorithms)})")
        key = await self._key_for(issuer, kid)
        if alg not in key.algorithms:
            raise AuthenticationError(f"token algorithm {_describe_alg(alg)} does not fit the signing key")
        try:
            return jwt.decode(token, key.key, algorithms=list(key.algorithms), audience=config.audience,
                              issuer=config.issuer, leeway=config.leeway_s,
                              options={"require": list(REQUIRED_REGISTERED_CLAIMS), "enforce_minimum_key_length": True})
        except jwt.PyJWTError as exc:
            raise AuthenticationError(_describe_jwt_error(exc, config)) from None

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


def _describe_alg(alg: Any) -> str:
    return repr(alg) if alg in KNOWN_ALGORITHM_NAMES else "(unknown or missing)"


def _describe_jwt_error(exc: jwt.PyJWTError, config: IssuerConfig) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "token is not yet valid (nbf or iat lies in the future)"
    if isinstance(exc, jwt.InvalidAudienceError):
        return f"token audience (aud) does not include {config.audience!r}"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"token lacks the required {exc.claim!r} claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "token signature is invalid"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "token algorithm is not accepted"
    if isinstance(exc, jwt.InvalidIssuedAtError):
        return "token issued-at (iat) claim is not a number"
    if isinstance(exc, jwt.InvalidKeyError):
        return "token cannot be verified with the issuer's key"
    if isinstance(exc, jwt.DecodeError):
        return "malformed bearer token"
    return f"invalid bearer token ({type(exc).__name__})"


# ------------------------------------------------------------------------------------------------------ claims


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
    known = {role.value for role in Role}
    roles: set[str] = set()
    for raw in _string_list(value, names.roles):
        alias = names.role_aliases.get(raw)
        if alias is not None:
            roles.add(alias.value)
        elif raw.lower() in known:
            roles.add(raw.lower())
    if not roles:
        raise AuthenticationError(f"token claim {names.roles!r} has no known role; expected at least one of "
                                  f"{', '.join(sorted(known))} (or map the IdP's names in claims.role_aliases)")
    return frozenset(roles)


def _string_list(value: Any, claim: str) -> list[str]:
    """A claim given as a list of strings, or as one string separated by spaces and/or commas."""
    if isinstance(value, str):
        return [item for item in LIST_SEPARATORS.split(value) if item]
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise AuthenticationError(f"token claim {claim!r} must be a list of strings or a space/comma-separated string")
