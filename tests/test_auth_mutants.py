"""The access policy (gateway/auth/policy.py) and the principal (gateway/auth/principal.py) at their edges: which
region codes fit which tier and what each tier sees (domain.md §1–2), who sees personal data in full, masked or not
at all, what an anonymous caller may read, and how a caller limited to some departments is held to them."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from gateway.auth.policy import (
    DEFAULT_POLICY_PATH,
    Access,
    AudienceRule,
    FieldRule,
    Policy,
    PublicAccess,
    Visibility,
    load_policy,
    log_out_of_scope,
    mask_value,
)
from gateway.auth.principal import NATIONAL_SERVICE, Principal, Role, Tier, region_prefix_of, tier_region_problem
from gateway.exceptions import ConfigurationError, ForbiddenError

# --- tiers and regions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tier, region, prefix", [
    (Tier.NATIONAL, "000000", ""),
    (Tier.PROVINCIAL, "370000", "37"),
    (Tier.MUNICIPAL, "370800", "3708"),
    (Tier.MUNICIPAL, "500000", "50"),  # 重庆: a 直辖市's municipal platform sees the whole municipality
    (Tier.MUNICIPAL, "110000", "11"),
    (Tier.DISTRICT, "370811", "370811"),
])
def test_each_tier_sees_the_regions_under_its_prefix(tier: Tier, region: str, prefix: str) -> None:
    principal = Principal(subject="s", tier=tier, region_code=region)
    assert principal.region_prefix == prefix
    assert region_prefix_of(tier, region) == prefix


def test_a_municipality_covers_its_counties_and_a_city_only_itself() -> None:
    chongqing = Principal(subject="s", tier=Tier.MUNICIPAL, region_code="500000")
    assert chongqing.covers("500229") and not chongqing.covers("510100")
    jining = Principal(subject="s", tier=Tier.MUNICIPAL, region_code="370800")
    assert jining.covers("370811") and jining.covers("3708") and not jining.covers("370911")
    assert not jining.covers("37")  # a wider prefix is not inside the city
    assert Principal.public().covers("650102")


@pytest.mark.parametrize("tier, region, problem", [
    (Tier.DISTRICT, "37081", "region '37081' is not a 6-digit GB/T 2260 code"),
    (Tier.DISTRICT, "3708111", "region '3708111' is not a 6-digit GB/T 2260 code"),
    (Tier.DISTRICT, "37081a", "region '37081a' is not a 6-digit GB/T 2260 code"),
    (Tier.DISTRICT, "３７０８１１", "region '３７０８１１' is not a 6-digit GB/T 2260 code"),  # full-width digits
    (Tier.NATIONAL, "370000", "a national principal's region must be 000000"),
    (Tier.PROVINCIAL, "000000", "region 000000 is national, not provincial"),
    (Tier.DISTRICT, "000000", "region 000000 is national, not district"),
    (Tier.PROVINCIAL, "370800", "a provincial region code ends in 0000"),
    (Tier.MUNICIPAL, "370811", "a municipal region code ends in 00 (not 0000), or is a 直辖市 "
                               "(110000, 120000, 310000, 500000)"),
    (Tier.MUNICIPAL, "370000", "a municipal region code ends in 00 (not 0000), or is a 直辖市 "
                               "(110000, 120000, 310000, 500000)"),
    (Tier.DISTRICT, "370800", "a district region code does not end in 00"),
])
def test_a_region_that_does_not_fit_the_tier_is_refused_with_the_reason(tier: Tier, region: str,
                                                                         problem: str) -> None:
    assert tier_region_problem(tier, region) == problem
    with pytest.raises(ValueError) as refused:
        Principal(subject="s", tier=tier, region_code=region)
    assert str(refused.value) == problem


@pytest.mark.parametrize("tier, region", [
    (Tier.NATIONAL, "000000"), (Tier.PROVINCIAL, "370000"), (Tier.MUNICIPAL, "370800"),
    (Tier.MUNICIPAL, "120000"), (Tier.MUNICIPAL, "310000"), (Tier.DISTRICT, "370811"), (Tier.DISTRICT, "500229"),
])
def test_a_region_that_fits_the_tier_has_no_problem(tier: Tier, region: str) -> None:
    assert tier_region_problem(tier, region) is None


def test_the_public_caller_and_the_service_identity() -> None:
    public = Principal.public()
    assert (public.subject, public.tier, public.region_code, public.is_public) == ("anonymous", Tier.PUBLIC,
                                                                                    "000000", True)
    assert public.roles == frozenset() and public.departments is None
    assert not Principal(subject="s", tier=Tier.NATIONAL, region_code="000000").is_public
    assert Principal(subject="s", tier=Tier.PUBLIC, region_code="37").region_prefix == ""  # no region check
    assert (NATIONAL_SERVICE.tier, NATIONAL_SERVICE.region_prefix) == (Tier.NATIONAL, "")
    assert NATIONAL_SERVICE.has_role(Role.VIEWER) and not NATIONAL_SERVICE.is_public


def test_roles_are_named_by_enum_or_text() -> None:
    principal = Principal(subject="s", tier=Tier.DISTRICT, region_code="370811", roles=frozenset({"dispatcher"}))
    assert principal.has_role(Role.DISPATCHER) and principal.has_role("dispatcher")
    assert not principal.has_role(Role.INSPECTOR) and not principal.has_role("DISPATCHER")


# --- scope ------------------------------------------------------------------------------------------------------

POLICY = load_policy()


def access(tier: Tier = Tier.MUNICIPAL, region: str = "370800", *roles: str,
           departments: frozenset[str] | None = None, policy: Policy = POLICY) -> Access:
    return Access(Principal(subject="s", tier=tier, region_code=region, roles=frozenset(roles),
                            departments=departments), policy)


def test_a_search_is_held_to_the_scope() -> None:
    city = access()
    assert city.scope_region(None) == "3708"
    assert city.scope_region("370811") == "370811"
    with pytest.raises(ForbiddenError) as refused:
        city.scope_region("370911", "filter.regionCode")
    assert refused.value.message == "filter.regionCode 370911 lies outside your scope (municipal 370800)"
    assert refused.value.extensions == {"argument": "filter.regionCode", "scope": "370800"}
    with pytest.raises(ForbiddenError) as default_name:
        city.scope_region("37")
    assert default_name.value.extensions["argument"] == "regionCode"


def test_a_record_outside_the_scope_is_refused_by_name() -> None:
    district = access(Tier.DISTRICT, "370811")
    district.check_region("370811", "component 1")
    assert district.in_scope("370811") and not district.in_scope("370812")
    with pytest.raises(ForbiddenError) as refused:
        district.check_region("370812", "component 1")
    assert refused.value.message == "component 1 lies in 370812, outside your scope (district 370811)"
    assert refused.value.extensions == {"scope": "370811"}


def test_the_whole_country_is_named_as_such() -> None:
    national = access(Tier.NATIONAL, "000000")
    national.check_region("650102", "x")
    assert national.scope_region("65") == "65"
    public = Access(Principal.public(), POLICY)
    assert public.scope_region(None) == ""
    assert public._scope_text() == national._scope_text() == "the whole country"


# --- what anonymous callers may read ----------------------------------------------------------------------------


def test_an_anonymous_caller_sees_only_public_component_classes() -> None:
    public = Access(Principal.public(), POLICY)
    assert public.component_classes(None) == ("0308", "0203", "0201")
    assert public.component_classes(("0203",)) == ("0203",)
    with pytest.raises(ForbiddenError) as refused:
        public.component_classes(("0203", "0101", "0113"))
    assert refused.value.message == "component classes ['0101', '0113'] are not public; sign in to see them"
    assert refused.value.extensions == {"argument": "classCodes"}
    public.check_component_class("0308", "component 7")
    with pytest.raises(ForbiddenError, match=r"^component 7 is of class 0101, which is not public; sign in to "
                                             r"see it$"):
        public.check_component_class("0101", "component 7")


def test_a_signed_in_caller_reads_every_class() -> None:
    city = access()
    assert city.component_classes(None) is None
    assert city.component_classes(("0101",)) == ("0101",)
    city.check_component_class("0101", "component 7")


def test_cases_alarms_and_statistics_are_public_only_where_the_policy_says() -> None:
    public = Access(Principal.public(), POLICY)
    for kind in ("events", "alerts", "stats"):
        with pytest.raises(ForbiddenError, match=f"^{kind} are not public; sign in to see them$"):
            public.require(kind)
        access().require(kind)
    opened = Policy(public=PublicAccess(events=True, alerts=True, stats=True))
    for kind in ("events", "alerts", "stats"):
        Access(Principal.public(), opened).require(kind)
    assert PublicAccess().component_classes == ("0308", "0203")


# --- departments ------------------------------------------------------------------------------------------------


def test_a_caller_limited_to_departments_is_held_to_them() -> None:
    limited = access(departments=frozenset({"water", "gas"}))
    assert limited.departments(None) == ("gas", "water")
    assert limited.departments(("water",)) == ("water",)
    with pytest.raises(ForbiddenError) as refused:
        limited.departments(("water", "housing", "transport"))
    assert refused.value.message == "departments ['housing', 'transport'] are outside your departments " \
                                    "['gas', 'water']"
    assert refused.value.extensions == {"argument": "departments"}
    assert access().departments(("housing",)) == ("housing",)
    assert access().departments(None) is None


def test_the_scope_key_names_what_shapes_the_answers() -> None:
    assert access().scope_key() == ("3708", False, None)
    assert access(departments=frozenset({"water", "gas"})).scope_key() == ("3708", False, ("gas", "water"))
    assert Access(Principal.public(), POLICY).scope_key() == ("", True, None)


# --- personal data ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, style, masked", [
    ("13812341234", "phone", "138****1234"),
    ("1234567", "phone", "1234567"),  # seven digits: nothing between the ends to hide
    ("123456", "phone", "******"),  # too short to show the ends
    ("张三丰", "name", "张**"),
    ("张三", "name", "张*"),
    ("张", "name", "张*"),  # one character still looks masked
    ("", "name", ""),
    ("secret", "other", "******"),
])
def test_masks_keep_only_what_the_style_shows(value: str, style: str, masked: str) -> None:
    assert mask_value(value, style) == masked


def test_who_sees_a_reporters_name_in_full_masked_or_not_at_all() -> None:
    def seen(principal_access: Access, value: object = "张三丰") -> object:
        return principal_access.field_value("CityEvent", "reporterName", value)

    assert seen(access(Tier.MUNICIPAL, "370800", "dispatcher")) == "张三丰"
    assert seen(access(Tier.DISTRICT, "370811", "inspector")) == "张三丰"
    assert seen(access(Tier.MUNICIPAL, "370800", "viewer")) == "张**"
    assert seen(access(Tier.NATIONAL, "000000", "dispatcher")) is None
    assert seen(access(Tier.PROVINCIAL, "370000")) is None
    assert seen(access(), None) is None
    assert access().field_value("CityEvent", "reporterPhone", 13812341234) == "138****1234"
    assert access().field_value("CityEvent", "status", "OPEN") == "OPEN"  # no rule: as it is


def test_an_audience_rule_without_roles_matches_any_role() -> None:
    rule = AudienceRule(tiers=(Tier.DISTRICT,))
    assert rule.matches(access(Tier.DISTRICT, "370811").principal)
    assert not rule.matches(access(Tier.MUNICIPAL, "370800").principal)
    with_roles = AudienceRule(tiers=(Tier.DISTRICT,), roles=("inspector", "dispatcher"))
    assert with_roles.matches(access(Tier.DISTRICT, "370811", "dispatcher").principal)
    assert not with_roles.matches(access(Tier.DISTRICT, "370811", "viewer").principal)
    field_rule = FieldRule(mask="name", visible=(with_roles,), masked=(rule,))
    assert field_rule.visibility(access(Tier.DISTRICT, "370811", "inspector").principal) is Visibility.VISIBLE
    assert field_rule.visibility(access(Tier.DISTRICT, "370811").principal) is Visibility.MASKED
    assert field_rule.visibility(access().principal) is Visibility.HIDDEN
    assert POLICY.field_rule("CityEvent", "reporterName") is not None
    assert POLICY.field_rule("CityEvent", "nothing") is None


# --- the policy file --------------------------------------------------------------------------------------------


def test_a_policy_file_replaces_the_default_and_a_bad_one_is_named(tmp_path: Path) -> None:
    assert load_policy(None) == load_policy(DEFAULT_POLICY_PATH) == POLICY
    custom = tmp_path / "policy.toml"
    custom.write_text('[public]\ncomponent_classes = ["0101"]\nevents = true\n', encoding="utf-8")
    assert load_policy(str(custom)).public == PublicAccess(component_classes=("0101",), events=True)
    assert load_policy(custom).fields == {}
    for text in ("[public\n", "[public]\nunknown = 1\n"):
        custom.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigurationError, match=f"^policy file {re.escape(str(custom))}: "):
            load_policy(custom)
    with pytest.raises(ConfigurationError, match=r"^policy file .*missing\.toml: "):
        load_policy(tmp_path / "missing.toml")
    custom.write_text('[public]\ncomponent_classes = ["0101"]\n# 注释\n', encoding="utf-8")
    assert load_policy(custom).public.component_classes == ("0101",)


def test_a_record_a_department_sends_outside_the_scope_is_logged_by_name(caplog: pytest.LogCaptureFixture) -> None:
    principal = Principal(subject="alice", tier=Tier.DISTRICT, region_code="370811")
    with caplog.at_level(logging.WARNING, logger="yiwang.policy"):
        log_out_of_scope("water", "W-9", "370812", principal)
    assert [record.getMessage() for record in caplog.records] == [
        "department water returned W-9 in region 370812 outside the scope 370811 of alice; removed"]
