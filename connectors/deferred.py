"""Component records whose costly fields are translated from the department's row only when a query reads them."""

from __future__ import annotations

from typing import Any

from connectors.records import COMPONENT_FIELDS, ComponentRecord


def _deferred(name: str, translate: str, done: int) -> Any:
    """A field of ``DeferredComponentRecord`` kept in ``ComponentRecord``'s slot, filled by ``translate`` on first
    read; ``done`` is the bit of ``_translated`` that says ``translate`` has run (a bit test costs less than a
    sentinel per field set at creation, or an AttributeError caught at the first read)."""
    slot = ComponentRecord.__dict__[name]  # the dataclass slot's member descriptor
    get, set_ = slot.__get__, slot.__set__

    def read(self: DeferredComponentRecord) -> Any:
        if not self._translated & done:
            getattr(self, translate)()
            self._translated |= done
        return get(self, ComponentRecord)

    return property(read, set_, doc=f"{name}, translated from the department's row when first read")


_LOCATION, _ORGANIZATIONS, _ATTRIBUTES = 1, 2, 4


class DeferredComponentRecord(ComponentRecord):
    """A ``ComponentRecord`` whose costly fields — the location (a datum conversion), the organisations and the
    class attributes — are translated from the department's ``row`` when first read.

    A query selects a few fields of each component, so a connector translates eagerly only what the gateway itself
    needs (id, class, region, status, names, times) and checks the rest's types; a subclass implements
    ``translate_location``, ``translate_organizations`` and ``translate_attributes``, each setting its fields.
    It equals the ``ComponentRecord`` with the same values, and ``resolved()`` is that record.
    """

    __slots__ = ("_translated", "row")
    row: Any
    _translated: int  # bits of the translate methods that have run

    lng = _deferred("lng", "translate_location", _LOCATION)
    lat = _deferred("lat", "translate_location", _LOCATION)
    owner = _deferred("owner", "translate_organizations", _ORGANIZATIONS)
    maintainer = _deferred("maintainer", "translate_organizations", _ORGANIZATIONS)
    attributes = _deferred("attributes", "translate_attributes", _ATTRIBUTES)

    def __init__(self, row: Any) -> None:
        """Subclasses set the eager fields after this."""
        self.row = row
        self._translated = 0

    def translate_location(self) -> None:
        raise NotImplementedError

    def translate_organizations(self) -> None:
        raise NotImplementedError

    def translate_attributes(self) -> None:
        raise NotImplementedError

    def resolved(self) -> ComponentRecord:
        return ComponentRecord(**{name: getattr(self, name) for name in COMPONENT_FIELDS})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ComponentRecord):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in COMPONENT_FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Deferred{self.resolved()!r}"
