"""Gateway settings, read from ``YIWANG_*`` environment variables. Unknown ``YIWANG_*`` variables are rejected, so a
typo does not silently leave a default in force."""

from __future__ import annotations

import os
import secrets
from typing import Annotated, Literal

from pydantic import Field, StrictInt, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from gateway.auth.principal import Role
from gateway.exceptions import ConfigurationError
from gateway.middleware import parse_allowed_origins

ENV_PREFIX = "YIWANG_"
DEFAULT_MOCK_BASE_PORT = 9100
DEFAULT_MAX_COST = 50_000  # a 10,000-item page with a nested object or two; the README's queries cost < 1,000
DEFAULT_TRACE_SAMPLE_RATIO = 0.1
CostBudget = Annotated[StrictInt, Field(gt=0)]
DEPARTMENT_PORT_OFFSETS = {"water": 1, "transport": 2, "environment": 3, "housing": 4, "citymgmt": 5}
# Read by the command-line client, not by the gateway.
CLIENT_ONLY_VARIABLES = frozenset({"YIWANG_GATEWAY_URL", "YIWANG_TOKEN"})


def mock_url(department: str, base_port: int = DEFAULT_MOCK_BASE_PORT) -> str:
    return f"http://127.0.0.1:{base_port + DEPARTMENT_PORT_OFFSETS[department]}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    mode: Literal["production", "demo"] = Field(
        "production", description="`demo` turns GraphiQL and introspection on; `production` keeps them off")
    host: str = Field("127.0.0.1", description="Address `yiwang serve` binds")
    port: int = Field(8000, description="Port `yiwang serve` binds")
    water_url: str = Field(mock_url("water"), description="Base URL of the water (供水排水) system")
    transport_url: str = Field(mock_url("transport"), description="Base URL of the transport system")
    environment_url: str = Field(mock_url("environment"), description="Base URL of the environment system")
    housing_url: str = Field(mock_url("housing"), description="Base URL of the housing (住建) system")
    citymgmt_url: str = Field(mock_url("citymgmt"), description="Base URL of the 数字城管 case system")
    housing_client_id: str = Field("yiwang-gateway", description="OAuth2 client id at the housing system")
    housing_client_secret: str = Field("housing-demo-secret", description="OAuth2 client secret at housing")
    regions: str = Field("370811,370812", description="Comma-separated GB/T 2260 districts the departments serve")
    http_transport: Literal["lean", "httpx"] = Field("lean", description=(
        "Bottom of department calls: `lean` sends plain GETs over http:// on keep-alive connections parsed with "
        "httptools (connectors/lean_http.py) and the rest through httpx; `httpx` sends everything through httpx"))
    upstream_timeout_s: float = Field(5.0, gt=0, description="Timeout of each department call, seconds")
    max_body_bytes: int = Field(1_048_576, gt=0, description="Largest accepted request body (413 above)")
    max_cost: int = Field(DEFAULT_MAX_COST, gt=0, description=(
        "Budget of an operation's estimated cost (objects, multiplied through lists by `first`; see gateway/cost.py); "
        "above it the operation is refused with COST_ESTIMATED_TOO_EXPENSIVE before any department is called"))
    cost_limits: dict[Role, CostBudget] = Field(default_factory=dict, description=(
        'JSON object of budgets by role, e.g. `{"platform_admin": 1000000}`; a caller gets the largest budget of its '
        "roles, `max_cost` for roles not listed"))
    csrf_protection: bool = Field(True, description="Refuse simple (non-preflighted) cross-site requests")
    cors_allowed_origins: str = Field("", description=(
        "Comma-separated origins (`https://dash.example.gov.cn`, `https://*.example.gov.cn`) whose web pages may call "
        "the gateway from a browser (CORS, without credentials); empty: none"))
    cursor_secret: str = Field(default_factory=lambda: secrets.token_hex(32), description=(
        "HMAC key for pagination cursors; set the same value on every instance behind one load balancer"))
    catalogue_path: str | None = Field(None, description="Replacement class-code catalogue (JSON)")
    auth_config_path: str | None = Field(None, description=(
        "JSON file of trusted token issuers, claim names and the anonymous policy (see docs/architecture.md)"))
    trust_demo_issuer: bool = Field(False, description=(
        "Also trust tokens signed with the public demo key (`yiwang token`); always on in demo mode, never in "
        "production"))
    anonymous: Literal["reject", "public"] | None = Field(None, description=(
        "Requests without a token: `reject` (401) or `public` (public data only); default: the auth config's "
        "choice, `public` in demo mode"))
    policy_path: str | None = Field(None, description="Access policy file (TOML); default: the built-in policy")
    database_url: str = Field("sqlite:///~/.yiwang/registry.sqlite3", description=(
        "Connector registry database (SQLAlchemy URL): SQLite by default, postgresql+psycopg://… for several "
        "instances"))
    database_schema: str | None = Field(None, description="PostgreSQL schema of the registry tables (default: public)")
    secret_key: str | None = Field(None, description=(
        "Fernet key encrypting connector secrets at rest; required to register a spec with an API key or client "
        "secret"))
    connector_allowlist: str = Field("", description=(
        "Comma-separated hosts (`*.example.gov.cn` allowed) and CIDRs that registered connectors may call"))
    registry_poll_s: float = Field(1.0, gt=0, description="How often an instance checks the registry for changes, s")
    registry_drain_s: float = Field(30.0, ge=0, description=(
        "How long a replaced connector set stays open for the requests that started on it, s"))
    cache_enabled: bool = Field(True, description="Cache department answers, persisted queries and responses")
    cache_url: str | None = Field(None, description=(
        "Cache backend: in-memory (bounded LRU) when unset or `memory://`; `redis://host:port/db` to share one cache "
        "between gateway instances"))
    cache_prefix: str = Field("yiwang", min_length=1, description="Prefix of every cache key (one per deployment)")
    cache_memory_max_bytes: int = Field(64 * 1024 * 1024, gt=0, description=(
        "Size limit of the in-memory cache; least recently used entries are evicted beyond it"))
    cache_ttls: str | None = Field(None, description=(
        'JSON overriding connectors\' freshness, seconds per "department.kind" or "kind" (registry, readings, '
        'events, alerts, stats), 0 = not cached; e.g. `{"citymgmt.alerts": 10}`'))
    cache_stale_max_age_s: float = Field(600.0, ge=0, description=(
        "When a department fails, serve its last good answer up to this age (marked in extensions.stale); 0: never"))
    cache_responses: bool = Field(True, description="Cache whole read-only operations (response cache)")
    cache_apq_ttl_s: float = Field(86400.0, gt=0, description="How long a registered persisted query is kept")
    cache_webhook_secret: str | None = Field(None, description=(
        "HMAC key of the department invalidation webhook (POST /cache/invalidate); unset: webhook off"))
    cache_webhook_tolerance_s: float = Field(300.0, gt=0, description=(
        "Largest clock difference accepted on a webhook timestamp; older requests are refused as replays"))
    tracing: bool = Field(True, description=(
        "Trace every request (OpenTelemetry spans, `extensions.traceId`, the trace store at /admin/traces)"))
    trace_sample_ratio: float | None = Field(None, ge=0, le=1, description=(
        "Share of new traces recorded; an incoming traceparent's sampling decision is kept (parent-based). Default: "
        f"{DEFAULT_TRACE_SAMPLE_RATIO} in production (tracing then costs under 10 % of a request's CPU with the "
        "OpenTelemetry SDK's own tracer, docs/performance.md), 1.0 in demo mode"))
    trace_store_size: int = Field(200, gt=0, description="Traces kept in memory for /admin/traces, oldest dropped")
    trace_otlp_endpoint: str | None = Field(None, description=(
        "OTLP/HTTP collector spans are exported to, e.g. http://tempo:4318 (`/v1/traces` is appended)"))
    trace_otlp_headers: str | None = Field(None, description=(
        "Headers sent with every OTLP export, `name=value` pairs separated by commas"))
    trace_console: bool = Field(False, description="Also print every finished span to stdout (debugging)")
    # Fast paths that rely on other projects' internals (gateway/fastpaths.py), each with its plain path behind it.
    fast_path_spans: bool = Field(False, description=(
        "Make spans with the gateway's lean tracer (gateway/telemetry/lean.py: private OpenTelemetry SDK names) "
        "instead of the SDK's own tracer; falls back to the SDK tracer, with a warning, when those names are gone"))
    fast_path_arguments: bool = Field(True, description=(
        "Coerce literal field arguments once per parsed document (gateway/arguments.py replaces graphql-core's "
        "`get_argument_values` in the executor while an app with this on is the latest built)"))
    fast_path_lists: bool = Field(True, description=(
        "Complete large lists of plain objects with compiled completers (gateway/execution.py); a list they cannot "
        "complete goes to graphql-core's executor and is counted in `yiwang_fast_path_fallbacks_total`"))
    service_name: str = Field("yiwang", description="`service.name` of this gateway in exported traces")
    platform_tier: Literal["national", "provincial", "municipal", "district"] = Field(
        "municipal", description="Tier of the platform this gateway serves (a resource attribute of its traces)")
    platform_region: str = Field("370800", pattern=r"^[0-9]{6}$", description=(
        "GB/T 2260 code of the platform's region (a resource attribute of its traces)"))
    log_format: Literal["text", "json"] = Field("text", description=(
        "`json`: one JSON object per log line, with the trace and span id of the request it belongs to"))
    metrics_token: str | None = Field(None, min_length=16, description=(
        "Bearer token `/metrics` requires (`Authorization: Bearer …`); unset: `/metrics` is open, so bind it to a "
        "network only the scraper reaches"))
    metrics_operations: str | None = Field(None, description=(
        "Operation names (comma-separated) that always get their own `operation` label on `/metrics`"))
    metrics_max_operations: int = Field(100, ge=0, le=10_000, description=(
        "Other operation names labelled one by one, first come; the rest are counted as `other`"))

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins_are_origins(cls, value: str) -> str:
        return ",".join(parse_allowed_origins(value))

    @field_validator("regions")
    @classmethod
    def _regions_are_districts(cls, value: str) -> str:
        codes = [code.strip() for code in value.split(",") if code.strip()]
        if not codes or not all(len(code) == 6 and code.isascii() and code.isdigit() for code in codes):
            raise ValueError("regions must be comma-separated 6-digit GB/T 2260 district codes")
        return ",".join(codes)

    @property
    def region_codes(self) -> tuple[str, ...]:
        return tuple(self.regions.split(","))

    @property
    def demo(self) -> bool:
        return self.mode == "demo"

    @property
    def sample_ratio(self) -> float:
        """``trace_sample_ratio``, or its default for the mode."""
        if self.trace_sample_ratio is not None:
            return self.trace_sample_ratio
        return 1.0 if self.demo else DEFAULT_TRACE_SAMPLE_RATIO

    def department_url(self, department: str) -> str:
        return str(getattr(self, f"{department}_url"))


def load_settings(**overrides: object) -> Settings:
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields} | CLIENT_ONLY_VARIABLES
    unknown = sorted(name for name in os.environ if name.startswith(ENV_PREFIX) and name not in known)
    if unknown:
        raise ConfigurationError(f"unknown settings {unknown}; known: {sorted(known)}")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except (ValidationError, SettingsError) as exc:  # SettingsError: a JSON setting that is not JSON
        raise ConfigurationError(f"invalid settings: {exc}") from exc
