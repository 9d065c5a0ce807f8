"""``yiwang connectors test``: run a spec against the live department without registering it — reach it,
authenticate, fetch a sample, map every record field by field — and report what is wrong: expressions that match
nothing, department fields nobody maps, invalid codes, coordinates outside the district, implausible values (a wrong
unit), values the code tables do not know — and how each query filter is served: pushed down to the department (and
checked: a department that ignores a parameter returns records the filter excludes) or applied by the gateway."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from connectors.errors import UpstreamError, YiwangError
from connectors.http import describe_failure
from connectors.records import BBox, ComponentQuery, ComponentRecord, Near
from connectors.spec.connector import DepartmentSkipped, SpecConnector
from connectors.spec.query_plan import FILTERS, matches
from connectors.spec.units import implausible
from schema.codes import is_component_id, is_grid_code

logger = logging.getLogger("yiwang.registry")
SAMPLE_SIZE = 50
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)
Bounds = tuple[float, float, float, float]  # WGS-84 min_lng, min_lat, max_lng, max_lat
# Rough WGS-84 boxes of the prefectures (4 digits) and 直辖市 (2 digits) in use, padded by ~0.05°, for regions a spec
# gives no district_bounds for: coarse, but a projected CRS in the wrong 3° zone moves points ~3° of longitude.
REGION_BOUNDS: dict[str, Bounds] = {
    "3708": (115.80, 34.35, 117.65, 36.00),  # 济宁市
    "3702": (119.45, 35.50, 121.05, 37.20),  # 青岛市
    "3205": (119.85, 30.70, 121.40, 32.10),  # 苏州市
    "11": (115.35, 39.40, 117.55, 41.10),  # 北京市
    "12": (116.65, 38.50, 118.10, 40.30),  # 天津市
    "31": (120.80, 30.60, 122.30, 31.95),  # 上海市
    "50": (105.25, 28.10, 110.25, 32.25),  # 重庆市
}
FILTER_BOX_DEGREES = 0.01  # half-width of the box around a sampled record used to check the bbox filter
FILTER_NEAR_M = 500.0  # radius around a sampled record used to check the near filter
FILTER_CHECK_SIZE = 50  # records asked for when checking a filter


@dataclass
class Report:
    department: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    problems: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (kind, field, message) -> records
    examples: dict[tuple[str, str, str], str] = field(default_factory=dict)
    unmapped_fields: list[str] = field(default_factory=list)
    filters: list[dict[str, Any]] = field(default_factory=list)  # {filter, served, detail}
    sampled: int = 0

    def problem(self, kind: str, name: str, message: str, example: Any = None) -> None:
        key = (kind, name, message)
        self.problems[key] += 1
        if example is not None and key not in self.examples:
            self.examples[key] = str(example)

    def step(self, name: str, ok: bool, detail: str) -> bool:
        self.steps.append({"step": name, "ok": ok, "detail": detail})
        return ok

    @property
    def ok(self) -> bool:
        return all(step["ok"] for step in self.steps) and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "department": self.department, "ok": self.ok, "sampled": self.sampled, "steps": self.steps,
            "problems": [{"kind": kind, "field": name, "message": message, "records": count,
                          **({"example": self.examples[(kind, name, message)]}
                             if (kind, name, message) in self.examples else {})}
                         for (kind, name, message), count in sorted(self.problems.items())],
            "unmapped_fields": self.unmapped_fields,
            "filters": self.filters,
        }


def failure_detail(department: str, exc: Exception) -> str:
    """A failed step, for the operator who runs the dry run (a platform_admin or the department's own operator):
    what the department answered wrong — an ``UpstreamError``'s detail, with the field and value — unlike the
    generic message GraphQL callers get; never a stack trace (an unforeseen exception is logged with one)."""
    if isinstance(exc, UpstreamError):
        return exc.detail
    if isinstance(exc, YiwangError):
        return exc.message
    logger.warning("dry run of %s failed unexpectedly", department, exc_info=exc)
    return f"{department}: the answer could not be processed: {describe_failure(exc)}"


def leaf_paths(node: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaf_paths(value, f"{prefix}.{key}" if prefix else str(key))
    elif prefix:
        yield prefix


async def dry_run(connector: SpecConnector, sample_size: int = SAMPLE_SIZE) -> Report:
    spec = connector.spec
    report = Report(spec.department)
    try:
        await connector.check_health()
        report.step("reach", True, f"{spec.operations.health.path} answered and reports healthy")
    except Exception as exc:
        report.step("reach", False, failure_detail(spec.department, exc))
        return report
    per_class = max(1, min(sample_size // len(spec.component_classes),
                           spec.operations.search_components.pagination.max_size))
    rows: list[dict[str, Any]] = []
    try:
        for class_code in spec.component_classes:  # a sample of every class: each has its own attributes
            params = connector.query_params(ComponentQuery(class_codes=(class_code,))) or {}
            page = await connector.fetch_page(params, None, per_class)
            rows += [row for row in page.rows if isinstance(row, dict)]
    except Exception as exc:
        report.step("authenticate and fetch a sample", False, failure_detail(spec.department, exc))
        return report
    report.sampled = len(rows)
    report.step("authenticate and fetch a sample", bool(rows),
                f"{len(rows)} records of {len(spec.component_classes)} classes" if rows
                else "the department returned no records")
    for row in rows:
        _check_record(connector, row, report)
    _check_unmatched_paths(connector, rows, report)
    _check_unmapped_fields(connector, rows, report)
    if rows and spec.operations.get_components is not None:
        await _check_batch(connector, rows, report)
    await _check_filters(connector, rows, report)
    return report


def _sample_record(connector: SpecConnector, rows: list[dict[str, Any]]) -> ComponentRecord | None:
    for row in rows:
        try:
            return connector.mapper.to_record(row)
        except (ValueError, TypeError, KeyError):
            continue
    return None


def _filter_query(name: str, record: ComponentRecord) -> ComponentQuery:
    """A query with only filter ``name``, which ``record`` satisfies."""
    if name == "region_codes":
        return ComponentQuery(region_codes=(record.region_code,))
    if name == "class_codes":
        return ComponentQuery(class_codes=(record.class_code,))
    if name == "grid_code":
        return ComponentQuery(grid_code=record.grid_code)
    if name == "statuses":
        return ComponentQuery(statuses=(record.status,))
    if name == "bbox":
        d = FILTER_BOX_DEGREES
        return ComponentQuery(bbox=BBox(record.lng - d, record.lat - d, record.lng + d, record.lat + d))
    return ComponentQuery(near=Near(record.lng, record.lat, FILTER_NEAR_M))


async def _check_filters(connector: SpecConnector, rows: list[dict[str, Any]], report: Report) -> None:
    """How each filter of a component query is served, each tried once with a value a sampled record satisfies: a
    pushed-down filter whose answer holds records the filter excludes is a binding the department ignores."""
    bound = connector.bound_filters()
    record = _sample_record(connector, rows)
    limit = connector.spec.gateway_filter_max_records
    params = connector.spec.operations.search_components.params
    for name in FILTERS:
        served = "pushed down" if name in bound else "applied by the gateway"
        parameters = ", ".join(p for p, binding in params.items() if not isinstance(binding, str)
                               and binding.source == name)
        how = (f"request parameter {parameters}" if name in bound
               else f"no binding: the gateway filters what the department returns (at most {limit} records a query)")
        entry = {"filter": name, "served": served, "detail": how}
        report.filters.append(entry)
        if record is None:
            report.step(f"filter {name}", True, f"{served}, {how}; not tried (no sampled record maps)")
            continue
        try:
            page = await connector.search_components(_filter_query(name, record), None, FILTER_CHECK_SIZE)
        except DepartmentSkipped as skipped:
            entry["detail"] = f"{how}; warning: {skipped.reason}"
            report.step(f"filter {name}", True, f"{served}, {entry['detail']} (the department is then left out "
                                                f"of the answer, named in extensions.skipped)")
            continue
        except Exception as exc:
            report.step(f"filter {name}", False, f"{served}: {failure_detail(connector.department_id, exc)}")
            continue
        query = _filter_query(name, record)
        wrong = [item.id for item in page.items if not matches(query, item)]
        if wrong:
            report.problem("filter not applied", name, f"{how}: the department returned records the filter "
                                                       f"excludes: does it ignore the parameter?", wrong[0])
        report.step(f"filter {name}", not wrong,
                    f"{served}, {how}; {len(page.items)} of {page.total} matching records checked"
                    + (f", {len(wrong)} do not match" if wrong else ""))


def _check_record(connector: SpecConnector, row: dict[str, Any], report: Report) -> None:
    spec = connector.spec
    values = connector.mapper.map_fields(row, lambda name, message: report.problem("unmappable value", name,
                                                                                  message))
    record_id = values.get("id")
    class_code = values.get("class_code")
    region = values.get("region_code")
    if class_code is not None and class_code not in spec.component_classes:
        report.problem("invalid code", "class_code", f"class {class_code} is not among the spec's "
                                                      f"component_classes", record_id)
    if region is not None and region not in spec.regions:
        report.problem("invalid code", "region_code", f"district {region} is not among the spec's regions",
                       record_id)
    if record_id is not None:
        if not is_component_id(record_id):
            report.problem("invalid code", "id", "not a 16-digit 部件标识码", record_id)
        elif (class_code and record_id[6:10] != class_code) or (region and record_id[:6] != region):
            report.problem("invalid code", "id", "标识码 does not hold the record's district and class", record_id)
    grid = values.get("grid_code")
    if grid is not None and (not is_grid_code(grid) or (region and not grid.startswith(region))):
        report.problem("invalid code", "grid_code", "not a 15-digit 单元网格 code of the record's district", grid)
    if "lng" in values:
        _check_location(spec.district_bounds, spec.regions if region not in spec.regions else [region],
                        values["lng"], values["lat"], record_id, report)
    for compiled in connector.mapper.attributes:
        name = compiled.name.removeprefix("attributes.")
        value = values["attributes"].get(name)
        if compiled.target_unit is not None and isinstance(value, float) and implausible(compiled.target_unit,
                                                                                          value):
            report.problem("implausible value", compiled.name,
                           f"{value:g} {compiled.target_unit} is implausible: is the unit "
                           f"{compiled.spec.unit or 'named by ' + str(compiled.spec.unit_path)} right?", record_id)


def region_bounds(region: str) -> Bounds | None:
    """The rough box of ``region``'s prefecture or 直辖市 from ``REGION_BOUNDS``, if the table has it."""
    return REGION_BOUNDS.get(region[:4]) or REGION_BOUNDS.get(region[:2])


def _inside(bounds: Bounds, lng: float, lat: float) -> bool:
    return bounds[0] <= lng <= bounds[2] and bounds[1] <= lat <= bounds[3]


def _check_location(district_bounds: dict[str, Bounds], regions: list[str], lng: float, lat: float, record_id: Any,
                    report: Report) -> None:
    """Outside China; else outside every district box the spec declares for the record's district (all its regions
    when the record's is not one of them); else, for regions without one, outside the prefecture's box."""
    point = f"{record_id}: ({lng:.6f}, {lat:.6f})"
    if not _inside(CHINA_BOUNDS, lng, lat):
        report.problem("out-of-district coordinates", "location", "outside China after conversion: is crs right?",
                       point)
        return
    declared = [district_bounds[r] for r in regions if r in district_bounds]
    if declared:
        if not any(_inside(bounds, lng, lat) for bounds in declared):
            report.problem("out-of-district coordinates", "location",
                           "outside the record's district after conversion: is crs right?", point)
        return
    known = [bounds for bounds in map(region_bounds, regions) if bounds is not None]
    if known and not any(_inside(bounds, lng, lat) for bounds in known):
        report.problem("out-of-district coordinates", "location",
                       "outside the city of the spec's regions after conversion: is crs right?", point)


def _check_unmatched_paths(connector: SpecConnector, rows: list[dict[str, Any]], report: Report) -> None:
    """An expression that is null in every sampled record almost always names a field the department lacks."""
    mapper = connector.mapper
    fields = [*mapper.fields, *mapper.attributes]
    for compiled in fields:
        if compiled.path is None or not rows:
            continue
        if all(compiled.path(row) in (None, "") for row in rows):
            report.problem("unmatched path", compiled.name,
                           f"{compiled.spec.path!r} matched nothing in any of the {len(rows)} sampled records")


def _check_unmapped_fields(connector: SpecConnector, rows: list[dict[str, Any]], report: Report) -> None:
    read = {expression.strip() for expression in connector.mapper.expressions()}
    seen = sorted({path for row in rows for path in leaf_paths(row)})
    report.unmapped_fields = [path for path in seen
                              if not any(path == e or path.startswith(e + ".") for e in read)]


async def _check_batch(connector: SpecConnector, rows: list[dict[str, Any]], report: Report) -> None:
    ids = [connector.mapper.fields[0].value(row) for row in rows[:3]]
    wanted = [str(i) for i in ids if i is not None and connector.owns(str(i))]
    if not wanted:
        return
    try:
        found = await connector.get_components(wanted)
    except Exception as exc:
        report.step("fetch by id", False, failure_detail(connector.department_id, exc))
        return
    missing = sorted(set(wanted) - {record.id for record in found})
    report.step("fetch by id", not missing, f"{len(found)} of {len(wanted)} sampled ids found"
                + (f"; missing {missing}" if missing else ""))
