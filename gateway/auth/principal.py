"""The caller as the policy sees it: a platform tier, the region that tier governs, roles and departments.

Tiers follow the platform hierarchy (domain.md §1–2): the national platform sees the whole country (region 000000),
a provincial platform its province (a code ending in 0000, prefix 2 digits), a municipal platform its city (ending in
00, prefix 4 digits; a 直辖市's — 110000, 120000, 310000, 500000 — the whole municipality, prefix 2 digits), a district
platform its district (6 digits). ``PUBLIC`` is an anonymous caller, allowed only
where anonymous access is configured, and sees only public data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from connectors.values import is_ascii_digits

NATIONAL_REGION = "000000"
# 直辖市: province-level divisions that build a 市级平台 whose scope is the whole division (domain.md §2; the national
# notice on 城市运行管理服务平台 has 直辖市 build municipal platforms). Chongqing's counties (5002xx) lie inside 500000.
MUNICIPALITIES = frozenset({"110000", "120000", "310000", "500000"})


class Tier(StrEnum):
    NATIONAL = "NATIONAL"  # 国家平台
    PROVINCIAL = "PROVINCIAL"  # 省级平台
    MUNICIPAL = "MUNICIPAL"  # 市级平台
    DISTRICT = "DISTRICT"  # 区县平台
    PUBLIC = "PUBLIC"  # anonymous caller


class Role(StrEnum):
    VIEWER = "viewer"
    DISPATCHER = "dispatcher"  # 派遣员
    INSPECTOR = "inspector"  # 监督员
    DEPARTMENT_OPERATOR = "department_operator"
    PLATFORM_ADMIN = "platform_admin"


def region_prefix_of(tier: Tier, region_code: str) -> str:
    """The prefix every region code in scope starts with ('' for the whole country)."""
    if tier in (Tier.NATIONAL, Tier.PUBLIC):
        return ""
    if tier is Tier.PROVINCIAL:
        return region_code[:2]
    if tier is Tier.MUNICIPAL:
        return region_code[:2] if region_code in MUNICIPALITIES else region_code[:4]
    return region_code


def tier_region_problem(tier: Tier, region_code: str) -> str | None:
    """Why a region code does not fit a tier, or None if it does."""
    if len(region_code) != 6 or not is_ascii_digits(region_code):
        return f"region {region_code!r} is not a 6-digit GB/T 2260 code"
    if tier is Tier.NATIONAL:
        return None if region_code == NATIONAL_REGION else "a national principal's region must be 000000"
    if region_code == NATIONAL_REGION:
        return f"region 000000 is national, not {tier.value.lower()}"
    if tier is Tier.PROVINCIAL and not region_code.endswith("0000"):
        return "a provincial region code ends in 0000"
    if tier is Tier.MUNICIPAL and region_code in MUNICIPALITIES:
        return None
    if tier is Tier.MUNICIPAL and (not region_code.endswith("00") or region_code.endswith("0000")):
        return "a municipal region code ends in 00 (not 0000), or is a 直辖市 (110000, 120000, 310000, 500000)"
    if tier is Tier.DISTRICT and region_code.endswith("00"):
        return "a district region code does not end in 00"
    return None


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    tier: Tier
    region_code: str
    roles: frozenset[str] = frozenset()
    departments: frozenset[str] | None = None  # None: not limited to some departments
    issuer: str | None = None
    region_prefix: str = field(init=False)

    def __post_init__(self) -> None:
        problem = tier_region_problem(self.tier, self.region_code) if self.tier is not Tier.PUBLIC else None
        if problem is not None:
            raise ValueError(problem)
        object.__setattr__(self, "region_prefix", region_prefix_of(self.tier, self.region_code))

    @classmethod
    def public(cls) -> Principal:
        return cls(subject="anonymous", tier=Tier.PUBLIC, region_code=NATIONAL_REGION)

    @property
    def is_public(self) -> bool:
        return self.tier is Tier.PUBLIC

    def has_role(self, role: Role | str) -> bool:
        return (role.value if isinstance(role, Role) else role) in self.roles

    def covers(self, region_code: str) -> bool:
        """The region (a full code or a prefix) lies inside this principal's scope."""
        return region_code.startswith(self.region_prefix)


# The gateway's own full-scope identity, for internal work that no caller's request shapes (health checks, tests of
# the connectors); never derived from a request.
NATIONAL_SERVICE = Principal(subject="yiwang-service", tier=Tier.NATIONAL, region_code=NATIONAL_REGION,
                             roles=frozenset({Role.VIEWER.value}))
