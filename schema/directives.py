"""Schema directives that show the access policy in the printed SDL, and the field extension that applies it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
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


@strawberry.enum(description="Who may share a cached answer that contains the field")
class CacheControlScope(Enum):
    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"


@strawberry.schema_directive(locations=[Location.FIELD_DEFINITION], description=(
    "缓存范围 — `PRIVATE`: the value depends on who the caller is (not only on the caller's scope and roles), so a "
    "cached whole response that selects it is filed under the caller's identity and never served to anyone else "
    "(Apollo's cache-control scope)"))
class CacheControl:
    scope: CacheControlScope


PRIVATE = CacheControl(scope=CacheControlScope.PRIVATE)


def is_private(field: Any) -> bool:
    """The strawberry field carries ``@cacheControl(scope: PRIVATE)``."""
    return any(isinstance(directive, CacheControl) and directive.scope is CacheControlScope.PRIVATE
               for directive in getattr(field, "directives", None) or ())


class PolicyMasked(FieldExtension):
    """Applies the policy's personal-data rule for ``Type.field`` to the value a field resolves to."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        value = next_(source, info, **kwargs)
        return info.context.access.field_value(info._raw_info.parent_type.name, info.field_name, value)

    async def resolve_async(self, next_: Callable[..., Awaitable[Any]], source: Any, info: strawberry.Info,
                            **kwargs: Any) -> Any:
        value = await next_(source, info, **kwargs)
        return info.context.access.field_value(info._raw_info.parent_type.name, info.field_name, value)
