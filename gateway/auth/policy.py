"""What a principal may see: region scope (from the tier), personal-data fields (from the policy file), public data.

Every check here fails closed: asking explicitly for something outside the scope is ``ForbiddenError`` with the
reason, never an empty answer that looks like "no data".
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.auth.principal import Principal, Tier
from gateway.exceptions import ConfigurationError, ForbiddenError

logger = logging.getLogger("yiwang.policy")
DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")


class Visibility(StrEnum):
    VISIBLE = "VISIBLE"
    MASKED = "MASKED"
    HIDDEN = "HIDDEN"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AudienceRule(_Strict):
    tiers: tuple[Tier, ...] = Field(description="Tiers the rule applies to")
    roles: tuple[str, ...] | None = Field(None, description="Any of these roles; None: any role")

    def matches(self, principal: Principal) -> bool:
        return principal.tier in self.tiers and (self.roles is None or any(principal.has_role(r) for r in self.roles))


class FieldRule(_Strict):
    mask: str = Field(description="How a masked value looks: `name` or `phone`")
    visible: tuple[AudienceRule, ...] = ()
    masked: tuple[AudienceRule, ...] = ()

    def visibility(self, principal: Principal) -> Visibility:
        if any(rule.matches(principal) for rule in self.visible):
            return Visibility.VISIBLE
        if any(rule.matches(principal) for rule in self.masked):
            return Visibility.MASKED
        return Visibility.HIDDEN


class PublicAccess(_Strict):
    component_classes: tuple[str, ...] = Field(("0308", "0203"), description="Component classes anyone may read")
    events: bool = Field(False, description="Anonymous callers may read cases")
    alerts: bool = Field(False, description="Anonymous callers may read alarms")
    stats: bool = Field(False, description="Anonymous callers may read statistics")


class Policy(_Strict):
    fields: dict[str, FieldRule] = Field(default_factory=dict, description="`Type.field` → personal-data rule")
    public: PublicAccess = Field(default_factory=lambda: PublicAccess())

    def field_rule(self, type_name: str, field_name: str) -> FieldRule | None:
        return self.fields.get(f"{type_name}.{field_name}")


def load_policy(path: str | Path | None = None) -> Policy:
    source = Path(path) if path else DEFAULT_POLICY_PATH
    try:
        return Policy.model_validate(tomllib.loads(source.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        raise ConfigurationError(f"policy file {source}: {exc}") from exc


def mask_value(value: str, style: str) -> str:
    if style == "phone" and len(value) >= 7:
        return f"{value[:3]}{'*' * (len(value) - 7)}{value[-4:]}"
    if style == "name" and value:
        return value[0] + "*" * max(len(value) - 1, 1)
    return "*" * len(value)


@dataclass(frozen=True, slots=True)
class Access:
    """One request's view of the policy: the principal plus the rules that apply to it."""

    principal: Principal
    policy: Policy

    # --- region scope -------------------------------------------------------------------------------------------
    def scope_region(self, requested: str | None, what: str = "regionCode") -> str:
        """The region prefix to search: the requested one if it lies inside the scope, else ``ForbiddenError``."""
        own = self.principal.region_prefix
        if requested is None:
            return own
        if requested.startswith(own):
            return requested
        raise ForbiddenError(f"{what} {requested} lies outside your scope ({self._scope_text()})",
                             argument=what, scope=self.principal.region_code)

    def check_region(self, region_code: str, what: str) -> None:
        if not self.principal.covers(region_code):
            raise ForbiddenError(f"{what} lies in {region_code}, outside your scope ({self._scope_text()})",
                                 scope=self.principal.region_code)

    def in_scope(self, region_code: str) -> bool:
        return self.principal.covers(region_code)

    def _scope_text(self) -> str:
        principal = self.principal
        if principal.tier is Tier.NATIONAL or principal.is_public:
            return "the whole country"
        return f"{principal.tier.value.lower()} {principal.region_code}"

    # --- what kinds of data -----------------------------------------------------------------------------------------
    def component_classes(self, requested: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if not self.principal.is_public:
            return requested
        allowed = self.policy.public.component_classes
        if requested is None:
            return allowed
        refused = [code for code in requested if code not in allowed]
        if refused:
            raise ForbiddenError(f"component classes {refused} are not public; sign in to see them",
                                 argument="classCodes")
        return requested

    def check_component_class(self, class_code: str, what: str) -> None:
        if self.principal.is_public and class_code not in self.policy.public.component_classes:
            raise ForbiddenError(f"{what} is of class {class_code}, which is not public; sign in to see it")

    def departments(self, requested: tuple[str, ...] | None) -> tuple[str, ...] | None:
        own = self.principal.departments
        if own is None:
            return requested
        if requested is None:
            return tuple(sorted(own))
        refused = [d for d in requested if d not in own]
        if refused:
            raise ForbiddenError(f"departments {refused} are outside your departments {sorted(own)}",
                                 argument="departments")
        return requested

    def require(self, kind: str) -> None:
        """Cases, alarms and statistics are not public unless the policy says so."""
        if self.principal.is_public and not getattr(self.policy.public, kind):
            raise ForbiddenError(f"{kind} are not public; sign in to see them")

    # --- fields -----------------------------------------------------------------------------------------------------
    def field_value(self, type_name: str, field_name: str, value: Any) -> Any:
        rule = self.policy.field_rule(type_name, field_name)
        if rule is None or value is None:
            return value
        visibility = rule.visibility(self.principal)
        if visibility is Visibility.VISIBLE:
            return value
        if visibility is Visibility.MASKED:
            return mask_value(str(value), rule.mask)
        return None

    def scope_key(self) -> tuple[Any, ...]:
        """What shapes this principal's answers; part of every cursor fingerprint (and, later, cache keys)."""
        principal = self.principal
        return (principal.region_prefix, principal.is_public,
                tuple(sorted(principal.departments)) if principal.departments is not None else None)


def log_out_of_scope(department: str, record_id: str, region_code: str, principal: Principal) -> None:
    logger.warning("department %s returned %s in region %s outside the scope %s of %s; removed",
                   department, record_id, region_code, principal.region_code, principal.subject)
