"""Schema directives that show the access policy in the printed SDL, and the field extension that applies it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.schema_directive import Location


@strawberry.schema_directive(locations=[Location.FIELD_DEFINITION], description=(
    "个人信息 — personal data: shown in full to `visibleTo`, masked for `maskedFor`, null for everyone else "
    "(the policy file decides; see YIWANG_POLICY_PATH)"))
class PersonalData:
    visible_to: list[str]
    masked_for: list[str]
    mask: str


@strawberry.schema_directive(locations=[Location.FIELD_DEFINITION], description=(
    "区划范围 — answers only contain records inside the caller's region scope (national: the country, provincial: "
    "the province, municipal: the city, district: the district); asking for anything outside it is FORBIDDEN"))
class RegionScoped:
    pass


@strawberry.schema_directive(locations=[Location.FIELD_DEFINITION], description=(
    "Not public: anonymous callers get FORBIDDEN"))
class SignInRequired:
    pass


class PolicyMasked(FieldExtension):
    """Applies the policy's personal-data rule for ``Type.field`` to the value a field resolves to."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        value = next_(source, info, **kwargs)
        return info.context.access.field_value(info._raw_info.parent_type.name, info.field_name, value)

    async def resolve_async(self, next_: Callable[..., Awaitable[Any]], source: Any, info: strawberry.Info,
                            **kwargs: Any) -> Any:
        value = await next_(source, info, **kwargs)
        return info.context.access.field_value(info._raw_info.parent_type.name, info.field_name, value)
