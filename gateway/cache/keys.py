"""What a cached answer is filed under, how long it stays fresh, and which tags can drop it — all read from the typed
call (``connectors.calls``): its data kind, its normalised fields and its subjects.

A connector-level key holds everything that shapes the department's answer for this caller: connector and version,
the call and its normalised fields, the authorization scope pushed down (``fetch.scope_key``) and the caller's
field-masking level. Two principals share an entry only when all of these agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from connectors.base import DEFAULT_CACHE_TTLS
from connectors.records import EventKind
from gateway.auth.policy import Access
from gateway.cache.codec import canonical
from gateway.plugins import UpstreamFetch


def data_kind(fetch: UpstreamFetch) -> str | None:
    """The kind of data a fetch returns (a key of ``Connector.cache_ttls``); None for calls never cached (health
    checks, writes)."""
    call = fetch.call
    return None if call.writes else call.data_kind(fetch.connector)


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
    connector, call = fetch.connector, fetch.call
    access = getattr(fetch.request, "access", None)
    request = (call.name, call.key_fields(), fetch.scope_key,
               masking_level(access if isinstance(access, Access) else None))
    digest = hashlib.sha256(canonical(request)).hexdigest()
    return f"c:{connector.department_id}:{connector.version}:{call.name}:{digest}"


def view_key(access: Access) -> tuple[Any, ...]:
    """Everything about the caller that can change a whole response: region scope, public or not, departments, tier
    and roles (personal-data masking, role-guarded fields, introspection)."""
    principal = access.principal
    return (*access.scope_key(), principal.tier.value, tuple(sorted(principal.roles)), masking_level(access))


# --- tags --------------------------------------------------------------------------------------------------------
def tags_of(fetch: UpstreamFetch, value: Any) -> set[str]:
    """Tags a department can name to drop this entry: itself, what the call is about (regions, classes, components,
    cases), and every component, case, class and region in the answer."""
    subjects = fetch.call.subjects(fetch.connector)
    tags = {f"department:{fetch.connector.department_id}"}
    tags.update(f"region:{code}" for code in subjects.regions)
    tags.update(tag for kind, code in subjects.classes for tag in class_tags(kind, code))
    tags.update(f"component:{component_id}" for component_id in subjects.components)
    tags.update(f"event:{event_id}" for event_id in subjects.events)
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
