"""What a cached answer is filed under, how long it stays fresh, and which tags can drop it.

A connector-level key holds everything that shapes the department's answer for this caller: connector and version,
operation, the normalised arguments, the authorization scope pushed down (``fetch.scope_key``) and the caller's
field-masking level. Two principals share an entry only when all of these agree.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from connectors.base import DEFAULT_CACHE_TTLS
from connectors.catalogue import ATTRIBUTE_FIELDS, TYPE_BY_CLASS
from connectors.records import AlertQuery, ComponentQuery, EventKind, EventQuery
from gateway.auth.policy import Access
from gateway.cache.codec import canonical
from gateway.plugins import UpstreamFetch
from schema.codes import component_class_of

# Classes whose records carry a live reading (``reading_at``): they get the connector's "readings" TTL.
READING_CLASSES = frozenset(code for code, type_name in TYPE_BY_CLASS.items()
                            if "reading_at" in ATTRIBUTE_FIELDS[type_name])
OPERATION_KINDS = {"search_events": "events", "get_events": "events", "search_alerts": "alerts",
                   "region_stats": "stats"}
COMPONENT_OPERATIONS = frozenset({"search_components", "get_components"})
QUERY_TYPES = (ComponentQuery, EventQuery, AlertQuery)


def data_kind(fetch: UpstreamFetch) -> str | None:
    """The kind of data a fetch returns (a key of ``Connector.cache_ttls``); None for calls never cached."""
    if fetch.operation in COMPONENT_OPERATIONS:
        return "readings" if _classes_of(fetch) & READING_CLASSES else "registry"
    return OPERATION_KINDS.get(fetch.operation)


def _classes_of(fetch: UpstreamFetch) -> frozenset[str]:
    served = fetch.connector.component_classes
    first = fetch.args[0] if fetch.args else None
    if isinstance(first, ComponentQuery) and first.class_codes:
        asked = frozenset(first.class_codes)
    elif isinstance(first, Iterable) and not isinstance(first, (str, ComponentQuery)):
        asked = frozenset(component_class_of(component_id) for component_id in first)
    else:
        return served
    return asked & served if served else asked


def fresh_ttl(fetch: UpstreamFetch, overrides: Mapping[str, float]) -> float | None:
    """Seconds the answer stays fresh: ``overrides`` ("department.kind" or "kind") over the connector's own
    ``cache_ttls`` over the defaults. None or 0: not cached."""
    kind = data_kind(fetch)
    if kind is None:
        return None
    department = fetch.connector.department_id
    for name in (f"{department}.{kind}", kind):
        if name in overrides:
            return overrides[name] or None
    declared = fetch.connector.cache_ttls
    ttl = declared[kind] if kind in declared else DEFAULT_CACHE_TTLS.get(kind)
    return ttl or None


def masking_level(access: Access | None) -> tuple[str, ...]:
    """How each personal-data field looks to this caller (visible, masked, hidden), in a fixed order."""
    if access is None:
        return ()
    return tuple(rule.visibility(access.principal).value for _, rule in sorted(access.policy.fields.items()))


def connector_key(fetch: UpstreamFetch) -> str:
    connector = fetch.connector
    access = getattr(fetch.request, "access", None)
    request = (fetch.operation, tuple(_normalised(arg) for arg in fetch.args), fetch.scope_key,
               masking_level(access if isinstance(access, Access) else None))
    digest = hashlib.sha256(canonical(request)).hexdigest()
    return f"c:{connector.department_id}:{connector.version}:{fetch.operation}:{digest}"


def _normalised(arg: Any) -> Any:
    """Query filters are sets: the order the client listed codes in does not change the answer."""
    if isinstance(arg, QUERY_TYPES):
        changes = {f.name: tuple(sorted(value, key=str)) for f in dataclasses.fields(arg)
                   if isinstance(value := getattr(arg, f.name), tuple)}
        return dataclasses.replace(arg, **changes)  # type: ignore[type-var,arg-type]
    return arg


def view_key(access: Access) -> tuple[Any, ...]:
    """Everything about the caller that can change a whole response: region scope, public or not, departments, tier
    and roles (personal-data masking, role-guarded fields, introspection)."""
    principal = access.principal
    return (*access.scope_key(), principal.tier.value, tuple(sorted(principal.roles)), masking_level(access))


# --- tags --------------------------------------------------------------------------------------------------------
def tags_of(fetch: UpstreamFetch, value: Any) -> set[str]:
    """Tags a department can name to drop this entry: itself, the regions and classes asked for, and every component,
    case, class and region in the answer."""
    connector = fetch.connector
    tags = {f"department:{connector.department_id}"}
    first = fetch.args[0] if fetch.args else None
    if isinstance(first, QUERY_TYPES):
        tags.update(f"region:{code}" for code in first.region_codes or connector.regions)
        if isinstance(first, ComponentQuery):
            tags.update(tag for code in first.class_codes or connector.component_classes
                        for tag in class_tags(EventKind.COMPONENT, code))
        elif isinstance(first, EventQuery):
            tags.update(tag for kind, code in first.classes or () for tag in class_tags(kind, code))
        tags.update(f"component:{component_id}" for component_id in getattr(first, "component_ids", None) or ())
    elif fetch.operation == "get_components" and first is not None:
        tags.update(f"component:{component_id}" for component_id in first)
        tags.update(tag for component_id in first
                    for tag in class_tags(EventKind.COMPONENT, component_class_of(component_id)))
    elif fetch.operation == "get_events" and first is not None:
        tags.update(f"event:{event_id}" for event_id in first)
    elif fetch.operation == "region_stats" and first is not None:
        tags.update(f"region:{code}" for code in first)
    items = getattr(value, "items", value)
    for record in items if isinstance(items, list) else ():
        tags.update(_record_tags(record))
    return tags


def class_tags(kind: EventKind, code: str) -> tuple[str, ...]:
    """Tags of a class. The 部件 and 事件 catalogues reuse codes (0102 污水井盖 / 暴露垃圾): ``class:COMPONENT:<code>``
    and ``class:EVENT:<code>`` name one each; the bare ``class:<code>`` stays the 部件小类 (components and the cases
    about them), never an 事件 class."""
    qualified = f"class:{kind.value}:{code}"
    return (f"class:{code}", qualified) if kind is EventKind.COMPONENT else (qualified,)


def _record_tags(record: Any) -> Iterable[str]:
    if region := getattr(record, "region_code", None):
        yield f"region:{region}"
    if class_code := getattr(record, "class_code", None):
        yield from class_tags(getattr(record, "kind", EventKind.COMPONENT), class_code)
    record_id = getattr(record, "id", None)
    component_id = getattr(record, "component_id", None)
    if hasattr(record, "kind"):  # a case
        yield f"event:{record_id}"
    elif component_id is None and record_id is not None:  # a component
        yield f"component:{record_id}"
    if component_id:
        yield f"component:{component_id}"
