"""Connector for the 供水排水 department (济宁市城乡水务局 facility service, see ``mocks/water.py``).

The department speaks snake_case JSON in a ``{"code", "msg", "data"}`` envelope, pages by 1-based
``page``/``size``, stores GCJ-02 coordinates, reports pressure in kPa and readings as decimal strings,
and sends naive local times. Resume positions are absolute offsets into the department's ascending-id
result; a window that straddles two of its pages is read with one larger page when that costs at most
twice the window, else with two concurrent pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from connectors.base import Connector
from connectors.catalogue import ATTRIBUTE_FIELDS, TYPE_BY_CLASS
from connectors.concurrency import gather
from connectors.deferred import DeferredComponentRecord
from connectors.errors import UpstreamBadResponse, UpstreamUnavailable
from connectors.geo import Gcj02Batch, wgs84_to_gcj02
from connectors.http import get_json, translating
from connectors.records import ComponentQuery, ComponentRecord, ComponentStatus, Organization, SearchPage
from connectors.values import offset_position, parse_local_time
from schema.codes import is_component_id

DEPARTMENT_ID = "water"
DEPARTMENT_NAME = "供水排水 Water supply and drainage"
FACILITIES_PATH = "/api/v1/facilities"
BATCH_PATH = "/api/v1/facilities/batch"
HEALTH_PATH = "/api/v1/health"
MAX_PAGE_SIZE = 1000
BATCH_CHUNK = 100
OK_CODE = 0
HEALTHY_STATUS = "UP"
LOCAL_TZ = timezone(timedelta(hours=8))  # the department sends naive Asia/Shanghai times
KPA_PER_MPA = 1000.0
WATER_CLASSES = frozenset({"0101", "0102", "0103", "0113", "2141", "2142", "2143"})

STATUS_BY_STATE: dict[str, ComponentStatus] = {
    "完好": ComponentStatus.INTACT,
    "破损": ComponentStatus.DAMAGED,
    "丢失": ComponentStatus.MISSING,
    "占用": ComponentStatus.OCCUPIED,
    "废弃": ComponentStatus.RETIRED,
}
STATE_BY_STATUS: dict[ComponentStatus, str] = {status: state for state, status in STATUS_BY_STATE.items()}

_INTEGER_FIELDS = frozenset({"diameter_mm", "outlet_diameter_mm", "pipe_diameter_mm"})
_TEXT_FIELDS = frozenset({"material", "shape", "hydrant_type", "sampling_point"})
# Where a water-quality reading was taken decides its free-chlorine limits (GB 5749-2022: 出厂 0.3–2 mg/L, 末梢
# ≥ 0.05 mg/L), so it travels with the reading.
_EXTRA_FIELDS: dict[str, tuple[str, ...]] = {"WaterQualityStation": ("sampling_point",)}
# Canonical attribute name -> name in the department's ``latest`` block, where it differs.
_READING_NAMES: dict[str, str] = {"pressure_mpa": "pressure_kpa", "reading_at": "reading_time"}


@dataclass(frozen=True, slots=True)
class PageCall:
    """One department page request and how many of its leading records precede the wanted window."""

    page: int
    size: int
    skip: int


def plan_window(offset: int, count: int, max_size: int = MAX_PAGE_SIZE) -> list[PageCall]:
    """Page calls that cover records [offset, offset + count) of a 1-based page/size listing.

    The smallest page size between ``count`` and ``2 * count`` that holds the whole window in one page wins;
    if none does, two consecutive pages of size ``count`` cover it (to be fetched concurrently).
    """
    count = max(1, min(count, max_size))
    for size in range(count, min(2 * count, max_size) + 1):
        if offset // size == (offset + count - 1) // size:
            return [PageCall(page=offset // size + 1, size=size, skip=offset % size)]
    first_page = offset // count
    return [PageCall(page=first_page + 1, size=count, skip=offset % count),
            PageCall(page=first_page + 2, size=count, skip=0)]


def _csv(values: Iterable[str]) -> str:
    return ",".join(values)


def _coordinate_pair(lng: float, lat: float) -> str:
    return f"{lng!r},{lat!r}"


def _local_time(raw: str) -> datetime:
    return parse_local_time(raw, LOCAL_TZ)


def _organization(name: Any, credit_code: Any) -> Organization | None:
    if not name:
        return None
    return Organization(name=str(name), credit_code=str(credit_code) if credit_code else None)


def _attribute_value(name: str, raw: Any) -> Any:
    if raw is None or raw == "":
        return None
    if name in _TEXT_FIELDS:
        return str(raw)
    if name in _INTEGER_FIELDS:
        return int(float(raw))
    if name == "reading_at":
        return _local_time(raw)
    if name == "pressure_mpa":
        return round(float(raw) / KPA_PER_MPA, 6)
    return float(raw)


def _attributes(
    class_code: str, attrs: Mapping[str, Any], latest: Mapping[str, Any] | None,
) -> dict[str, Any]:
    type_name = TYPE_BY_CLASS.get(class_code)
    if type_name is None:
        return {}
    readings = latest or {}
    out: dict[str, Any] = {}
    for name in (*ATTRIBUTE_FIELDS[type_name], *_EXTRA_FIELDS.get(type_name, ())):
        dialect_name = _READING_NAMES.get(name, name)
        raw = attrs[dialect_name] if dialect_name in attrs else readings.get(dialect_name)
        out[name] = _attribute_value(name, raw)
    return out


def _is_object_or_empty(value: Any) -> bool:
    return type(value) is dict or not value or isinstance(value, Mapping)


class FacilityRecord(DeferredComponentRecord):
    """One department facility record as a normalised component; location, organisations and class attributes are
    translated when first read (their types are checked here, so reading them cannot fail)."""

    __slots__ = ("_point", "_points")

    def __init__(self, raw: Mapping[str, Any], points: Gcj02Batch | None = None) -> None:
        super().__init__(raw)
        self.id = str(raw["facility_code"])
        self.class_code = str(raw["type_code"])
        self.name = str(raw["facility_name"])
        self.status = STATUS_BY_STATE[raw["state"]]
        self.region_code = str(raw["district_code"])
        self.grid_code = str(raw["grid_code"])
        self.department_id = DEPARTMENT_ID
        self.department_name = str(raw["dept_name"])
        self.updated_at = _local_time(raw["update_time"])
        self._points = points if points is not None else Gcj02Batch()
        self._point = self._points.add(float(raw["gcj_lng"]), float(raw["gcj_lat"]))
        attrs, latest = raw.get("attrs"), raw.get("latest")
        if not (_is_object_or_empty(attrs) and _is_object_or_empty(latest)):
            raise TypeError("attrs and latest must be objects")

    def translate_location(self) -> None:
        self.lng, self.lat = self._points.wgs84(self._point)

    def translate_organizations(self) -> None:
        raw = self.row
        self.owner = _organization(raw.get("owner_name"), raw.get("owner_credit_code"))
        self.maintainer = _organization(raw.get("maintainer_name"), raw.get("maintainer_credit_code"))

    def translate_attributes(self) -> None:
        with translating(DEPARTMENT_ID, "facility attributes"):
            self.attributes = _attributes(self.class_code, self.row.get("attrs") or {}, self.row.get("latest"))


def to_record(raw: Mapping[str, Any]) -> ComponentRecord:
    """One department facility record as a normalised component."""
    return FacilityRecord(raw)


class WaterConnector(Connector):
    department_id: ClassVar[str] = DEPARTMENT_ID
    department_name: ClassVar[str] = DEPARTMENT_NAME
    component_classes: ClassVar[frozenset[str]] = WATER_CLASSES
    cache_ttls: ClassVar[Mapping[str, float | None]] = {"registry": 600.0, "readings": 10.0}  # pressure moves fast

    # --- department calls -----------------------------------------------------------------------------------
    async def _call(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET one endpoint and return the envelope's ``data``."""
        body = await get_json(self.client, DEPARTMENT_ID, path, params=params)
        with translating(DEPARTMENT_ID, "envelope"):
            code = body["code"]
            if code != OK_CODE:
                message = f"{DEPARTMENT_ID}: refused: {code} {body.get('msg')}"
                raise UpstreamBadResponse(DEPARTMENT_ID, message)
            return body["data"]

    async def _records(self, path: str, params: Mapping[str, Any]) -> tuple[list[ComponentRecord], int]:
        data = await self._call(path, params)
        with translating(DEPARTMENT_ID, "facility records"):
            points = Gcj02Batch()  # one conversion for the page's locations, if any is read
            return [FacilityRecord(raw, points) for raw in data["records"]], int(data["total"])

    # --- components -----------------------------------------------------------------------------------------
    async def get_components(self, ids: Sequence[str]) -> list[ComponentRecord]:
        wanted = [i for i in dict.fromkeys(ids) if is_component_id(i) and i[6:10] in self.component_classes]
        chunks = [wanted[start: start + BATCH_CHUNK] for start in range(0, len(wanted), BATCH_CHUNK)]
        answers = await gather(
            *(self._records(BATCH_PATH, {"codes": _csv(chunk)}) for chunk in chunks))
        by_id = {record.id: record for records, _ in answers for record in records}
        return [by_id[i] for i in wanted if i in by_id]

    async def search_components(
        self, query: ComponentQuery, after: str | None, first: int,
    ) -> SearchPage[ComponentRecord]:
        offset = offset_position(after, DEPARTMENT_ID)
        filters = self.filter_params(query)
        if filters is None or first <= 0:
            return await self._empty_or_count(filters, offset)
        calls = plan_window(offset, first)
        answers = await gather(*(
            self._records(FACILITIES_PATH, {**filters, "page": call.page, "size": call.size})
            for call in calls))
        window: list[ComponentRecord] = []
        for call, (records, _) in zip(calls, answers, strict=True):
            window.extend(records[call.skip:])
        items = window[: min(first, MAX_PAGE_SIZE)]
        total = answers[0][1]
        positions = [str(offset + i + 1) for i in range(len(items))]
        return SearchPage(items=items, positions=positions, total=total, has_more=offset + len(items) < total)

    async def _empty_or_count(
        self, filters: dict[str, str] | None, offset: int,
    ) -> SearchPage[ComponentRecord]:
        """No window wanted: a query that cannot match costs no call; ``first <= 0`` still needs the total."""
        if filters is None:
            return SearchPage(items=[], positions=[], total=0, has_more=False)
        _, total = await self._records(FACILITIES_PATH, {**filters, "page": 1, "size": 1})
        return SearchPage(items=[], positions=[], total=total, has_more=offset < total)

    def filter_params(self, query: ComponentQuery) -> dict[str, str] | None:
        """The query in the department's parameters; ``None`` when it cannot match anything here."""
        regions = query.region_codes if query.region_codes is not None else self.regions
        classes = (sorted(self.component_classes) if query.class_codes is None
                   else [code for code in query.class_codes if code in self.component_classes])
        if not regions or not classes or query.statuses == ():
            return None
        params = {"district_codes": _csv(regions)}
        if query.class_codes is not None:
            params["type_codes"] = _csv(classes)
        if query.grid_code is not None:
            params["grid_code"] = query.grid_code
        if query.statuses is not None:
            params["state"] = _csv(STATE_BY_STATUS[status] for status in query.statuses)
        if query.bbox is not None:
            box = query.bbox
            params["bbox"] = (f"{_coordinate_pair(*wgs84_to_gcj02(box.min_lng, box.min_lat))},"
                              f"{_coordinate_pair(*wgs84_to_gcj02(box.max_lng, box.max_lat))}")
        if query.near is not None:
            params["center"] = _coordinate_pair(*wgs84_to_gcj02(query.near.lng, query.near.lat))
            params["radius"] = repr(float(query.near.radius_m))
        return params

    # --- health ---------------------------------------------------------------------------------------------
    async def check_health(self) -> None:
        data = await self._call(HEALTH_PATH)
        with translating(DEPARTMENT_ID, "health answer"):
            status = data["status"]
        if status != HEALTHY_STATUS:
            raise UpstreamUnavailable(DEPARTMENT_ID, f"{DEPARTMENT_ID}: reports status {status}")
