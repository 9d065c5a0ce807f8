"""Who may see what, applied to a request before and after departments are asked: the region a search may cover,
the classes and departments it may name, and the records a department sent outside the caller's scope.

The rules themselves (a principal's region, tier, departments; the policy file) are ``gateway.auth.policy.Access``;
this module applies them to a search's arguments and to the records that come back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from gateway.auth.policy import Access, log_out_of_scope
from gateway.auth.principal import NATIONAL_REGION
from gateway.exceptions import UserInputError
from gateway.router import ConnectorSet
from schema.codes import component_class_of, region_of


@dataclass(frozen=True, slots=True)
class RegionArgument:
    """An argument that names a region, and the region prefix it names: ``regionCode`` its own, ``gridCode`` and
    ``componentId`` the 6-digit division their code begins with."""

    argument: str
    prefix: str


@dataclass(frozen=True, slots=True)
class SearchScope:
    """Routing facts for a search that are not part of the connector query."""

    regions: tuple[RegionArgument, ...] = ()
    departments: tuple[str, ...] | None = None


class Placed(Protocol):
    """A record with a region: components, cases, alarms, statistics rows."""

    @property
    def region_code(self) -> str: ...


def scoped_region(access: Access, scope: SearchScope) -> str:
    """The region prefix to search. Every region an argument names must lie in the caller's scope (else FORBIDDEN
    naming the argument: never an empty list) and the arguments must agree with each other (else BAD_USER_INPUT);
    both before any department is asked."""
    for named in scope.regions:
        # The whole country's prefix is ''; a refusal names it by its code.
        access.scope_region(named.prefix or NATIONAL_REGION, named.argument)
    if not scope.regions:
        return access.scope_region(None)
    # Of equally narrow ones the last: regions are listed broad to narrow (regionCode, gridCode, componentId).
    narrowest = max(reversed(scope.regions), key=lambda named: len(named.prefix))
    for named in scope.regions:
        if not narrowest.prefix.startswith(named.prefix):
            raise UserInputError(f"{narrowest.argument} lies in {narrowest.prefix}, outside {named.argument} "
                                 f"{named.prefix or NATIONAL_REGION}: together they match nothing",
                                 argument=narrowest.argument)
    return narrowest.prefix


def check_component(access: Access, component_id: str) -> None:
    """A component asked for by id must lie in the caller's region and be of a class it may see (else FORBIDDEN)."""
    what = f"component {component_id}"
    access.check_region(region_of(component_id), what)
    access.check_component_class(component_class_of(component_id), what)


def check_component_classes(access: Access, component_ids: Iterable[str] | None) -> None:
    """Components a filter names by id must be of classes the caller may see (else FORBIDDEN)."""
    for component_id in component_ids or ():
        access.check_component_class(component_class_of(component_id), f"component {component_id}")


def known_departments(connectors: ConnectorSet, departments: tuple[str, ...] | None) -> None:
    """Every department a filter names must be joined to the platform (else BAD_USER_INPUT)."""
    unknown = [d for d in departments or () if connectors.get(d) is None]
    if unknown:
        known = ", ".join(c.department_id for c in connectors)
        raise UserInputError(f"departments: no department {', '.join(unknown)} is joined to the platform "
                             f"(there are {known})", argument="departments")


def in_scope(access: Access, department: str, record: Placed) -> bool:
    """Defence in depth: a record a department sent from outside the caller's scope is removed and logged."""
    if access.in_scope(record.region_code):
        return True
    log_out_of_scope(department, getattr(record, "id", "statistics"), record.region_code, access.principal)
    return False
