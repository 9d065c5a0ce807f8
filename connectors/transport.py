"""Connector for the 交通运输 (transport) department: parking lots, bus stops and traffic signals.

The department speaks camelCase JSON with opaque cursors, BD-09 coordinates and UTC timestamps
(``mocks.transport`` describes the dialect). A resume position is ``(cursor of a page start, items to skip)``,
because the department's cursor can only say "after the last item of a page" while the gateway may stop
anywhere inside a page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import orjson

from connectors.base import Connector
from connectors.client import DepartmentClient
from connectors.concurrency import gather
from connectors.deferred import DeferredComponentRecord
from connectors.errors import UpstreamUnavailable, UserInputError
from connectors.geo import bd09_to_wgs84, wgs84_to_bd09
from connectors.http import get_json, post_json, translating
from connectors.records import ComponentQuery, ComponentRecord, ComponentStatus, Organization, SearchPage

DEPARTMENT_ID = "transport"
ASSETS_PATH = "/v2/assets"
BATCH_GET_PATH = "/v2/assets:batchGet"
STATUS_PATH = "/v2/status"
DEFAULT_MAX_PAGE_SIZE = 500  # the department refuses a larger ``limit``
BATCH_SIZE = 100
SERVING = "SERVING"
PLATFORM_TZ = timezone(timedelta(hours=8))
ROUTE_SEPARATOR = ";"

STATUS_BY_CONDITION: dict[str, ComponentStatus] = {
    "GOOD": ComponentStatus.INTACT,
    "BROKEN": ComponentStatus.DAMAGED,
    "LOST": ComponentStatus.MISSING,
    "OCCUPIED": ComponentStatus.OCCUPIED,
    "DECOMMISSIONED": ComponentStatus.RETIRED,
}
CONDITION_BY_STATUS: dict[ComponentStatus, str] = {
    status: condition for condition, status in STATUS_BY_CONDITION.items()
}
SHELTER_FLAGS = {"Y": True, "N": False}


# --- resume positions ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Resume after skipping ``skip`` items of the page that ``cursor`` starts (``None``: the first page)."""

    cursor: str | None
    skip: int

    def encode(self) -> str:
        return base64.urlsafe_b64encode(orjson.dumps([self.cursor, self.skip])).decode()

    @classmethod
    def decode(cls, position: str | None) -> ResumePoint:
        if position is None:
            return cls(None, 0)
        try:
            cursor, skip = orjson.loads(base64.urlsafe_b64decode(position.encode()))
        except (binascii.Error, orjson.JSONDecodeError, TypeError, ValueError) as exc:
            raise UserInputError(f"invalid cursor for {DEPARTMENT_ID}") from exc
        valid_cursor = cursor is None or isinstance(cursor, str)
        if not valid_cursor or not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
            raise UserInputError(f"invalid cursor for {DEPARTMENT_ID}")
        return cls(cursor, skip)


# --- dialect -> records -------------------------------------------------------------------------------------
def _typed(value: Any, kinds: tuple[type, ...], field: str) -> Any:
    # bool is an int subclass: a JSON true must not pass for a number.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise TypeError(f"{field} has unexpected type {type(value).__name__}")
    return value


def _str(value: Any, field: str) -> str:
    return str(_typed(value, (str,), field))


def _int(value: Any, field: str) -> int:
    return int(_typed(value, (int,), field))


def _float(value: Any, field: str) -> float:
    return float(_typed(value, (int, float), field))


def _bool(value: Any, field: str) -> bool:
    return bool(_typed(value, (bool,), field))


def parse_timestamp(value: Any, field: str) -> datetime:
    moment = datetime.fromisoformat(_str(value, field))
    if moment.tzinfo is None:
        raise ValueError(f"{field} lacks a UTC offset: {value!r}")
    return moment.astimezone(PLATFORM_TZ)


def _organization(unit: Any, field: str) -> Organization | None:
    if unit is None:
        return None
    credit_code = unit.get("uscc")
    return Organization(name=_str(unit["name"], f"{field}.name"),
                        credit_code=None if credit_code is None else _str(credit_code, f"{field}.uscc"))


def _parking(block: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "capacity": _int(block["totalSpaces"], "parking.totalSpaces"),
        "available_spaces": _int(block["freeSpaces"], "parking.freeSpaces"),
        "fee_per_hour_yuan": _int(block["hourlyFeeCents"], "parking.hourlyFeeCents") / 100,
        "reading_at": parse_timestamp(block["observedAt"], "parking.observedAt"),
    }


def _bus_stop(block: Mapping[str, Any]) -> dict[str, Any]:
    routes = _str(block["routes"], "busStop.routes")
    return {
        "routes": [route for route in routes.split(ROUTE_SEPARATOR) if route],
        "has_shelter": SHELTER_FLAGS[_str(block["shelter"], "busStop.shelter")],
    }


def _signal(block: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "intersection": _str(block["intersectionName"], "signal.intersectionName"),
        "control_mode": _str(block["controlMode"], "signal.controlMode"),
        "phase_count": _int(block["phases"], "signal.phases"),
        "online": _bool(block["online"], "signal.online"),
    }


CLASS_BLOCKS = {"0201": ("parking", _parking), "0203": ("busStop", _bus_stop), "0210": ("signal", _signal)}


def _attributes(asset: Mapping[str, Any], class_code: str) -> dict[str, Any]:
    entry = CLASS_BLOCKS.get(class_code)
    if entry is None:
        return {}
    key, mapper = entry
    return mapper(asset[key])


class AssetRecord(DeferredComponentRecord):
    """One asset as a normalised component; the location (BD-09, an iterative inverse), organisations and class
    attributes are translated when first read. The coordinates' types are checked here, so the location cannot fail;
    a garbled organisation or class block fails only its fields, as UPSTREAM_BAD_RESPONSE."""

    __slots__ = ("_bd09",)

    def __init__(self, asset: Mapping[str, Any]) -> None:
        super().__init__(asset)
        self.class_code = _str(asset["classCode"], "classCode")
        position = asset["position"]
        self._bd09 = (_float(position["bdLng"], "position.bdLng"), _float(position["bdLat"], "position.bdLat"))
        self.id = _str(asset["assetId"], "assetId")
        self.name = _str(asset["assetName"], "assetName")
        self.status = STATUS_BY_CONDITION[_str(asset["condition"], "condition")]
        self.region_code = _str(asset["areaCode"], "areaCode")
        self.grid_code = _str(asset["gridId"], "gridId")
        self.department_id = DEPARTMENT_ID
        self.department_name = _str(asset["authority"], "authority")
        self.updated_at = parse_timestamp(asset["lastModified"], "lastModified")

    def translate_location(self) -> None:
        self.lng, self.lat = bd09_to_wgs84(*self._bd09)

    def translate_organizations(self) -> None:
        with translating(DEPARTMENT_ID, "asset units"):
            self.owner = _organization(self.row.get("managingUnit"), "managingUnit")
            self.maintainer = _organization(self.row.get("maintenanceUnit"), "maintenanceUnit")

    def translate_attributes(self) -> None:
        with translating(DEPARTMENT_ID, f"asset {self.id}"):
            self.attributes = _attributes(self.row, self.class_code)


def asset_to_record(asset: Mapping[str, Any]) -> ComponentRecord:
    return AssetRecord(asset)


# --- records -> dialect -------------------------------------------------------------------------------------
def _joined(values: Sequence[Any]) -> str:
    return ",".join(str(value) for value in values)


def _bd09_point(lng: float, lat: float) -> list[float]:
    return list(wgs84_to_bd09(lng, lat))


def query_params(query: ComponentQuery) -> dict[str, str]:
    """Every filter of the query in the department's terms (geometry converted to BD-09)."""
    params: dict[str, str] = {}
    if query.region_codes is not None:
        params["areaCodes"] = _joined(query.region_codes)
    if query.grid_code is not None:
        params["gridId"] = query.grid_code
    if query.class_codes is not None:
        params["classCodes"] = _joined(query.class_codes)
    if query.statuses is not None:
        params["conditions"] = _joined([CONDITION_BY_STATUS[status] for status in query.statuses])
    if query.bbox is not None:
        box = query.bbox
        corners = _bd09_point(box.min_lng, box.min_lat) + _bd09_point(box.max_lng, box.max_lat)
        params["bbox"] = _joined(corners)
    if query.near is not None:
        near = query.near
        params["near"] = _joined([*_bd09_point(near.lng, near.lat), near.radius_m])
    return params


def _matches_nothing(query: ComponentQuery) -> bool:
    """An empty list filter admits nothing; the dialect cannot say so (an empty parameter means no filter)."""
    return any(values is not None and not values
               for values in (query.region_codes, query.class_codes, query.statuses))


@dataclass(slots=True)
class _Page:
    items: list[Mapping[str, Any]]
    next_cursor: str | None
    total: int


def _page(payload: Any) -> _Page:
    next_cursor = payload["nextCursor"]
    if next_cursor is not None:
        _str(next_cursor, "nextCursor")
    items = _typed(payload["items"], (list,), "items")
    return _Page(items=items, next_cursor=next_cursor, total=_int(payload["totalCount"], "totalCount"))


class TransportConnector(Connector):
    department_id = DEPARTMENT_ID
    department_name = "交通运输 Transport"
    component_classes = frozenset({"0201", "0203", "0210"})
    cache_ttls: ClassVar[Mapping[str, float | None]] = {"registry": 600.0, "readings": 15.0}  # parking availability

    def __init__(
        self, client: DepartmentClient, *, max_page_size: int = DEFAULT_MAX_PAGE_SIZE, **options: Any,
    ) -> None:
        super().__init__(client, **options)
        if max_page_size < 1:
            raise ValueError("max_page_size must be positive")
        self.max_page_size = max_page_size

    async def get_components(self, ids: Sequence[str]) -> list[ComponentRecord]:
        unique = list(dict.fromkeys(ids))
        chunks = [unique[start: start + BATCH_SIZE] for start in range(0, len(unique), BATCH_SIZE)]
        answers = await gather(*(self._batch_get(chunk) for chunk in chunks))
        return [record for answer in answers for record in answer]

    async def _batch_get(self, ids: list[str]) -> list[ComponentRecord]:
        payload = await post_json(self.client, DEPARTMENT_ID, BATCH_GET_PATH, {"assetIds": ids})
        with translating(DEPARTMENT_ID):
            return [asset_to_record(asset) for asset in _typed(payload["items"], (list,), "items")]

    async def search_components(
        self, query: ComponentQuery, after: str | None, first: int,
    ) -> SearchPage[ComponentRecord]:
        start = ResumePoint.decode(after)
        if _matches_nothing(query):
            return SearchPage(items=[], positions=[], total=0, has_more=False)
        params = query_params(query)
        wanted = max(first, 0)
        cursor, skip = start.cursor, start.skip
        items: list[ComponentRecord] = []
        positions: list[str] = []
        while True:
            # Ask for one item even when none are wanted: the answer still tells total and has_more.
            limit = max(1, min(skip + wanted - len(items), self.max_page_size))
            page = await self._list(params, cursor, limit)
            with translating(DEPARTMENT_ID):
                for index in range(skip, len(page.items)):
                    items.append(asset_to_record(page.items[index]))
                    positions.append(self._position_after(cursor, index, page).encode())
            skip = max(0, skip - len(page.items))
            if len(items) >= wanted or page.next_cursor is None:
                break
            cursor = page.next_cursor
        has_more = len(items) > wanted or page.next_cursor is not None
        return SearchPage(items=items[:wanted], positions=positions[:wanted], total=page.total,
                          has_more=has_more)

    @staticmethod
    def _position_after(cursor: str | None, index: int, page: _Page) -> ResumePoint:
        if index == len(page.items) - 1 and page.next_cursor is not None:
            return ResumePoint(page.next_cursor, 0)
        return ResumePoint(cursor, index + 1)

    async def _list(self, params: Mapping[str, str], cursor: str | None, limit: int) -> _Page:
        request = {**params, "limit": str(limit)}
        if cursor is not None:
            request["cursor"] = cursor
        payload = await get_json(self.client, DEPARTMENT_ID, ASSETS_PATH, params=request)
        with translating(DEPARTMENT_ID):
            return _page(payload)

    async def check_health(self) -> None:
        payload = await get_json(self.client, DEPARTMENT_ID, STATUS_PATH)
        with translating(DEPARTMENT_ID, "status"):
            status = _str(payload["status"], "status")
        if status != SERVING:
            raise UpstreamUnavailable(DEPARTMENT_ID, f"{DEPARTMENT_ID}: reports status {status}")
