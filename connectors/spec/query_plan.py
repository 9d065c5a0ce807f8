"""From the gateway's ``ComponentQuery`` to a spec department's request: the parameters its bindings fill (in the
department's terms and coordinate system), and the filters no binding takes, which the gateway applies to the mapped
records instead (``GatewayFilter``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.geo import haversine_m
from connectors.records import ComponentQuery, ComponentRecord
from connectors.spec.crs import Convert
from connectors.spec.operations import QueryBinding

FILTERS = ("region_codes", "class_codes", "grid_code", "statuses", "bbox", "near")  # ComponentQuery's filters


@dataclass(frozen=True, slots=True)
class GatewayFilter:
    """The filters of a query the department cannot take, applied to mapped records (``None``: no constraint)."""

    query: ComponentQuery

    @property
    def names(self) -> list[str]:
        return [name for name in FILTERS if getattr(self.query, name) is not None]

    def __call__(self, record: ComponentRecord) -> bool:
        return matches(self.query, record)


def matches(query: ComponentQuery, record: ComponentRecord) -> bool:
    """Whether ``record`` satisfies every filter of ``query`` (WGS-84 positions; ``near`` by great-circle distance,
    as the mock departments and the code connectors measure it)."""
    if query.region_codes is not None and record.region_code not in query.region_codes:
        return False
    if query.class_codes is not None and record.class_code not in query.class_codes:
        return False
    if query.grid_code is not None and record.grid_code != query.grid_code:
        return False
    if query.statuses is not None and record.status not in query.statuses:
        return False
    if query.bbox is not None and not query.bbox.contains(record.lng, record.lat):
        return False
    near = query.near
    return near is None or haversine_m(near.lng, near.lat, record.lng, record.lat) <= near.radius_m


@dataclass(frozen=True, slots=True)
class QueryPlanner:
    """Plans queries for one department: the districts and classes it serves, the search operation's parameters
    (constants or query bindings) and the conversion of WGS-84 positions to its coordinate system."""

    regions: Sequence[str]
    component_classes: frozenset[str]
    params: Mapping[str, QueryBinding | str]
    to_department_crs: Convert

    def bound_filters(self) -> set[str]:
        """The query filters the spec binds to a request parameter (pushed down to the department)."""
        return {binding.source for binding in self.params.values() if isinstance(binding, QueryBinding)}

    def plan(self, query: ComponentQuery) -> tuple[dict[str, Any], GatewayFilter | None] | None:
        """The department's parameters and the filters the gateway applies itself (``None`` when there are none);
        ``None`` when the query cannot match anything here."""
        regions = [r for r in (query.region_codes if query.region_codes is not None else self.regions)
                   if r in self.regions]
        classes = (sorted(self.component_classes) if query.class_codes is None
                   else [code for code in query.class_codes if code in self.component_classes])
        if not regions or not classes or query.statuses == ():
            return None
        values: dict[str, Any] = {"region_codes": regions, "class_codes": classes, "grid_code": query.grid_code,
                                  "statuses": query.statuses, "bbox": query.bbox, "near": query.near}
        bound = self.bound_filters()
        needed = {"grid_code", "statuses", "bbox", "near"} & {name for name, value in values.items()
                                                             if value is not None}
        if query.class_codes is not None and set(classes) != self.component_classes:
            needed.add("class_codes")
        if set(regions) != set(self.regions):
            needed.add("region_codes")
        unbound = needed - bound
        gateway_side: dict[str, Any] = {name: tuple(values[name]) if isinstance(values[name], list) else values[name]
                                        for name in unbound}
        residual = GatewayFilter(ComponentQuery(**gateway_side)) if unbound else None
        params: dict[str, Any] = {}
        for name, binding in self.params.items():
            if isinstance(binding, str):
                params[name] = binding
                continue
            rendered = self.render(binding, values[binding.source])
            if rendered is not None:
                params[name] = rendered
        return params, residual

    def render(self, binding: QueryBinding, value: Any) -> str | None:
        """A filter's value as the binding's request parameter (``None``: the filter is not set)."""
        if value is None:
            return None
        if binding.source in ("region_codes", "class_codes"):
            return binding.join.join(value)
        if binding.source == "statuses":
            return binding.join.join((binding.values or {})[status.value] for status in value)
        if binding.source == "bbox":
            min_x, min_y = self.to_department_crs(value.min_lng, value.min_lat)
            max_x, max_y = self.to_department_crs(value.max_lng, value.max_lat)
            return (binding.format or "").format(min_lng=repr(min_x), min_lat=repr(min_y), max_lng=repr(max_x),
                                                 max_lat=repr(max_y))
        if binding.source == "near":
            x, y = self.to_department_crs(value.lng, value.lat)
            return (binding.format or "").format(lng=repr(x), lat=repr(y), radius_m=repr(float(value.radius_m)))
        return str(value)
