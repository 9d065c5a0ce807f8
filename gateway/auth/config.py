"""Authentication settings: the trusted token issuers (one key source and one algorithm family each), the claim names
a city's identity provider uses, and the anonymous policy, read from ``YIWANG_AUTH_CONFIG_PATH`` (JSON).

An issuer's algorithms are all of one family, so a token can never choose how it is verified: ``alg=none`` and key
confusion (an HS256 token "signed" with an RSA public key) are refused before any key is touched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

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

from gateway.auth.principal import Role, Tier
from gateway.exceptions import ConfigurationError

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512"})
HMAC_ALGORITHMS = frozenset({"HS256"})
ALGORITHM_FAMILIES: dict[str, frozenset[str]] = {"RSA": RSA_ALGORITHMS, "EC": EC_ALGORITHMS, "HMAC": HMAC_ALGORITHMS}

DEFAULT_JWKS_ALGORITHMS = ("RS256",)
DEFAULT_LEEWAY_S = 30.0
MAX_LEEWAY_S = 300.0
MIN_HS256_SECRET_LENGTH = 32
DEFAULT_JWKS_CACHE_TTL_S = 300.0
DEFAULT_JWKS_REFRESH_INTERVAL_S = 10.0
DEFAULT_JWKS_FETCH_TIMEOUT_S = 5.0
KEY_SOURCES = ("jwks_url", "jwks_file", "jwks", "hs256_secret")


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
