"""Permissions as strawberry ``BasePermission`` classes, so a role check on any field or mutation is one line:

    @strawberry.mutation(permission_classes=[RequireRole("dispatcher")])
    def dispatch_case(self, case_id: strawberry.ID) -> CityEvent: ...
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.permission import BasePermission


def RequireRole(*roles: str) -> type[BasePermission]:
    """A permission class admitting callers with any of ``roles``."""
    if not roles:
        raise ValueError("RequireRole needs at least one role")

    class _RequireRole(BasePermission):
        message = f"requires one of the roles {list(roles)}"
        error_extensions = {"code": "FORBIDDEN", "requiredRoles": list(roles)}  # noqa: RUF012

        def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
            principal = info.context.access.principal
            return any(principal.has_role(role) for role in roles)

    _RequireRole.__name__ = f"RequireRole_{'_'.join(roles)}"
    return _RequireRole
