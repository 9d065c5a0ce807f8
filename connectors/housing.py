"""Connector for the 住房和城乡建设 (housing and construction) system: construction sites (0602) and
buildings (2150).

The department speaks an OAuth2-protected JSON API (see ``mocks.housing``): a client-credentials token
from ``POST /oauth/token``, sent as ``Authorization: Bearer`` on every call; ``offset``/``limit`` pages in
ascending id order; numeric status codes; GeoJSON points in WGS-84; local times with ``+08:00``. A search
for one class goes to that kind's endpoint, a search over both to ``/api/objects``, so each query is one
offset-paged sequence and a resume position is simply the absolute offset after an item.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, ClassVar

from connectors.base import Connector
from connectors.client import DepartmentClient
from connectors.concurrency import gather
from connectors.deferred import DeferredComponentRecord
from connectors.errors import UpstreamCredentialsRejected, UpstreamUnavailable
from connectors.geo import CRS, from_wgs84, to_wgs84
from connectors.http import parse_json, send, translating
from connectors.records import ComponentQuery, ComponentRecord, ComponentStatus, Organization, SearchPage
from connectors.values import is_ascii_digits, offset_position

DEPARTMENT_ID = "housing"
TOKEN_PATH = "/oauth/token"
OBJECTS_PATH = "/api/objects"
PING_PATH = "/api/ping"
SITE_CLASS = "0602"
BUILDING_CLASS = "2150"
ENDPOINT_BY_CLASS = {SITE_CLASS: "/api/construction-sites", BUILDING_CLASS: "/api/buildings"}
MAX_PAGE_SIZE = 200  # the department refuses a larger ``limit``
MAX_BATCH_IDS = 100
COMPONENT_ID_LENGTH = 16
DEPARTMENT_CRS = CRS.WGS84  # GeoJSON
DEPARTMENT_TZ = timezone(timedelta(hours=8))  # Asia/Shanghai, for naive local times
DEFAULT_TOKEN_REFRESH_MARGIN_S = 30.0
# A short-lived token is renewed when this share of its lifetime is left, rather than the fixed margin.
TOKEN_REFRESH_MARGIN_FRACTION = 0.1
HTTP_UNAUTHORIZED = 401

STATUS_BY_CODE: dict[int, ComponentStatus] = {
    1: ComponentStatus.INTACT,
    2: ComponentStatus.DAMAGED,
    3: ComponentStatus.MISSING,
    4: ComponentStatus.OCCUPIED,
    5: ComponentStatus.RETIRED,
}
CODE_BY_STATUS: dict[ComponentStatus, int] = {status: code for code, status in STATUS_BY_CODE.items()}
# Dust concentrations to µg/m³; both the micro sign and the Greek mu occur in the wild.
DUST_FACTOR_TO_UGM3: dict[str, float] = {
    "µg/m³": 1.0, "μg/m³": 1.0, "ug/m3": 1.0, "µg/m3": 1.0, "mg/m³": 1000.0, "mg/m3": 1000.0,
}
NOISE_UNITS = frozenset({"dB(A)", "dBA", "dB"})


# --- tokens -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    renew_at: float  # on the connector's clock


class TokenSource:
    """OAuth2 client-credentials tokens: fetched lazily, cached until shortly before expiry, and fetched by
    one caller at a time."""

    def __init__(
        self,
        client: DepartmentClient,
        *,
        client_id: str,
        client_secret: str,
        clock: Callable[[], float],
        refresh_margin_s: float,
    ) -> None:
        self._client = client
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._refresh_margin_s = refresh_margin_s
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    async def current(self) -> str:
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:
            # Another caller may have renewed the token while this one waited for the lock.
            return self._fresh() or await self._renew()

    async def replace(self, rejected: str) -> str:
        """A token the department refused (revoked, or expired early): renew unless someone already did."""
        async with self._lock:
            fresh = self._fresh()
            if fresh is not None and fresh != rejected:
                return fresh
            return await self._renew()

    def _fresh(self) -> str | None:
        token = self._token
        if token is not None and self._clock() < token.renew_at:
            return token.value
        return None

    async def _renew(self) -> str:
        requested_at = self._clock()
        form = {"grant_type": "client_credentials", "client_id": self._client_id,
                "client_secret": self._client_secret}
        try:
            response = await send(self._client, DEPARTMENT_ID, "POST", TOKEN_PATH, data=form)
        except UpstreamUnavailable as exc:
            raise UpstreamUnavailable(
                DEPARTMENT_ID, f"{DEPARTMENT_ID}: could not obtain an OAuth2 token for client "
                               f"{self._client_id!r} ({exc.detail})") from exc
        payload = parse_json(DEPARTMENT_ID, response)
        with translating(DEPARTMENT_ID, "token response"):
            value = _text(payload, "access_token")
            if _text(payload, "token_type").lower() != "bearer":
                raise ValueError(f"token_type {payload['token_type']!r} is not Bearer")
            lifetime = _number(payload["expires_in"])
            if lifetime <= 0:
                raise ValueError(f"expires_in must be positive, got {lifetime}")
        margin = min(self._refresh_margin_s, lifetime * TOKEN_REFRESH_MARGIN_FRACTION)
        self._token = _Token(value, requested_at + lifetime - margin)
        return value


# --- the connector ------------------------------------------------------------------------------------------
class HousingConnector(Connector):
    department_id = DEPARTMENT_ID
    department_name = "住房和城乡建设 Housing and construction"
    component_classes = frozenset({SITE_CLASS, BUILDING_CLASS})
    # Buildings rarely change; construction sites report dust and noise readings.
    cache_ttls: ClassVar[Mapping[str, float | None]] = {"registry": 1800.0, "readings": 30.0}

    def __init__(
        self,
        client: DepartmentClient,
        *,
        client_id: str,
        client_secret: str,
        clock: Callable[[], float] = time.monotonic,
        token_refresh_margin_s: float = DEFAULT_TOKEN_REFRESH_MARGIN_S,
        **base_kwargs: Any,
    ) -> None:
        super().__init__(client, **base_kwargs)
        self._tokens = TokenSource(client, client_id=client_id, client_secret=client_secret, clock=clock,
                                   refresh_margin_s=token_refresh_margin_s)

    async def get_components(self, ids: Sequence[str]) -> list[ComponentRecord]:
        wanted = list(dict.fromkeys(i for i in ids if self._is_own_id(i)))
        chunks = [wanted[start: start + MAX_BATCH_IDS] for start in range(0, len(wanted), MAX_BATCH_IDS)]
        payloads = await gather(*(
            self._get(OBJECTS_PATH, {"ids": ",".join(chunk)}) for chunk in chunks))
        found = {record.id: record for payload in payloads for record in _page(payload, expected_offset=0)[0]}
        return [found[i] for i in wanted if i in found]

    async def search_components(
        self, query: ComponentQuery, after: str | None, first: int,
    ) -> SearchPage[ComponentRecord]:
        start = offset_position(after, DEPARTMENT_ID)
        classes = self._classes_asked(query.class_codes)
        if not classes or query.region_codes == () or query.statuses == ():
            return SearchPage(items=[], positions=[], total=0, has_more=False)
        path, params = _search_request(query, classes)
        limits = _page_limits(max(0, first))
        payloads = await gather(*(
            self._get(path, {**params, "offset": start + skip, "limit": limit}) for skip, limit in limits))
        items: list[ComponentRecord] = []
        total = 0
        for (skip, _), payload in zip(limits, payloads, strict=True):
            records, total = _page(payload, expected_offset=start + skip)
            items.extend(records)
        return SearchPage(
            items=items,
            positions=[str(start + index + 1) for index in range(len(items))],
            total=total,
            has_more=start + len(items) < total,
        )

    async def check_health(self) -> None:
        payload = await self._get(PING_PATH, None)
        with translating(DEPARTMENT_ID, "ping"):
            status = _text(payload, "status")
        if status != "UP":
            raise UpstreamUnavailable(DEPARTMENT_ID, f"{DEPARTMENT_ID}: reports status {status!r}")

    async def _get(self, path: str, params: Mapping[str, Any] | None) -> Any:
        """GET with the current bearer token; a 401 (revoked, or expired early) renews it once and retries."""
        token = await self._tokens.current()
        try:
            response = await send(self.client, DEPARTMENT_ID, "GET", path, params=params,
                                  headers={"Authorization": f"Bearer {token}"})
        except UpstreamCredentialsRejected as rejected:
            if rejected.status != HTTP_UNAUTHORIZED:
                raise
            token = await self._tokens.replace(token)
            response = await send(self.client, DEPARTMENT_ID, "GET", path, params=params,
                                  headers={"Authorization": f"Bearer {token}"})
        return parse_json(DEPARTMENT_ID, response)

    def _is_own_id(self, component_id: str) -> bool:
        return (len(component_id) == COMPONENT_ID_LENGTH and is_ascii_digits(component_id)
                and component_id[6:10] in self.component_classes)

    def _classes_asked(self, class_codes: tuple[str, ...] | None) -> tuple[str, ...]:
        if class_codes is None:
            return tuple(sorted(self.component_classes))
        return tuple(sorted(self.component_classes.intersection(class_codes)))


# --- requests -----------------------------------------------------------------------------------------------
def _page_limits(first: int) -> list[tuple[int, int]]:
    """(skip, limit) calls that together cover ``first`` rows; always at least one call, for the count."""
    if first == 0:
        return [(0, 0)]
    return [(skip, min(MAX_PAGE_SIZE, first - skip)) for skip in range(0, first, MAX_PAGE_SIZE)]


def _search_request(query: ComponentQuery, classes: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """The endpoint and the dialect's filter parameters for a query (one class: its endpoint, else both)."""
    params: dict[str, str] = {}
    if len(classes) == 1:
        path = ENDPOINT_BY_CLASS[classes[0]]
    else:
        path = OBJECTS_PATH
        if query.class_codes is not None:
            params["classCode"] = ",".join(classes)
    if query.region_codes is not None:
        params["district"] = ",".join(query.region_codes)
    if query.grid_code is not None:
        params["grid"] = query.grid_code
    if query.statuses is not None:
        params["status"] = ",".join(str(CODE_BY_STATUS[status]) for status in query.statuses)
    if query.bbox is not None:
        min_lng, min_lat = from_wgs84(DEPARTMENT_CRS, query.bbox.min_lng, query.bbox.min_lat)
        max_lng, max_lat = from_wgs84(DEPARTMENT_CRS, query.bbox.max_lng, query.bbox.max_lat)
        params["bbox"] = f"{min_lng!r},{min_lat!r},{max_lng!r},{max_lat!r}"
    if query.near is not None:
        lng, lat = from_wgs84(DEPARTMENT_CRS, query.near.lng, query.near.lat)
        params["near"] = f"{lng!r},{lat!r},{float(query.near.radius_m)!r}"
    return path, params


# --- dialect to records -------------------------------------------------------------------------------------
def _page(payload: Any, *, expected_offset: int) -> tuple[list[ComponentRecord], int]:
    """The records of one answer and its ``count``."""
    with translating(DEPARTMENT_ID):
        results = payload["results"]
        if not isinstance(results, list):
            raise TypeError("results is not a list")
        offset = _integer(payload["offset"])
        if offset != expected_offset:
            raise ValueError(f"asked for offset {expected_offset}, answered offset {offset}")
        return [_component(raw) for raw in results], _integer(payload["count"])


class ObjectRecord(DeferredComponentRecord):
    """One housing object as a normalised component; the location (GeoJSON), organisations and class attributes are
    translated when first read. The geometry is checked here, so the location cannot fail; a garbled organisation
    or class field fails only its fields, as UPSTREAM_BAD_RESPONSE."""

    __slots__ = ("_point",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        super().__init__(raw)
        self.class_code = _text(raw, "classCode")
        if self.class_code not in ATTRIBUTES_BY_CLASS:
            raise KeyError(self.class_code)
        self._point = _point(raw["geometry"])
        self.id = _text(raw, "objectId")
        self.name = _text(raw, "name")
        self.status = STATUS_BY_CODE[_integer(raw["status"])]
        self.region_code = _text(raw, "regionCode")
        self.grid_code = _text(raw, "gridCode")
        self.department_id = DEPARTMENT_ID
        self.department_name = _text(raw, "competentAuthority")
        self.updated_at = _timestamp(raw["modifiedAt"])

    def translate_location(self) -> None:
        self.lng, self.lat = self._point

    def translate_organizations(self) -> None:
        with translating(DEPARTMENT_ID, "object organisations"):
            self.owner = _organization(self.row.get("owner"))
            self.maintainer = _organization(self.row.get("maintainer"))

    def translate_attributes(self) -> None:
        with translating(DEPARTMENT_ID, f"object {self.id}"):
            self.attributes = ATTRIBUTES_BY_CLASS[self.class_code](self.row)


def _component(raw: Mapping[str, Any]) -> ComponentRecord:
    return ObjectRecord(raw)


def _building_attributes(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "address": _text(raw, "address"),
        "floors": _integer(raw["floorsAboveGround"]),
        "height_m": _number(raw["heightM"]),
        "year_built": _integer(raw["completionYear"]),
        "structure": _text(raw, "structureType"),
        "usage": _text(raw, "useType"),
    }


def _site_attributes(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "permit_number": _text(raw, "permitNo"),
        "contractor": {"name": _text(raw["contractor"], "name")},
        "start_date": date.fromisoformat(_text(raw, "startDate")),
        "planned_end_date": date.fromisoformat(_text(raw, "plannedCompletion")),
        "pm10": _dust_ugm3(raw["dust"]),
        "noise_db": _noise_db(raw["noise"]),
        "reading_at": _timestamp(raw["observedAt"]),
    }


ATTRIBUTES_BY_CLASS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    BUILDING_CLASS: _building_attributes,
    SITE_CLASS: _site_attributes,
}


def _dust_ugm3(dust: Mapping[str, Any]) -> float:
    return round(_number(dust["pm10"]) * DUST_FACTOR_TO_UGM3[_text(dust, "unit")], 6)


def _noise_db(noise: Mapping[str, Any]) -> float:
    unit = _text(noise, "unit")
    if unit not in NOISE_UNITS:
        raise ValueError(f"unknown noise unit {unit!r}")
    return _number(noise["value"])


def _point(geometry: Mapping[str, Any]) -> tuple[float, float]:
    if geometry["type"] != "Point":
        raise ValueError(f"geometry is a {geometry['type']!r}, not a Point")
    coordinates = geometry["coordinates"]
    lng, lat = to_wgs84(DEPARTMENT_CRS, _number(coordinates[0]), _number(coordinates[1]))
    if not (-180.0 <= lng <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"coordinates out of range: {coordinates!r}")
    return lng, lat


def _organization(raw: Mapping[str, Any] | None) -> Organization | None:
    if raw is None:
        return None
    credit_code = raw.get("creditCode")
    if credit_code is not None and not isinstance(credit_code, str):
        raise TypeError("creditCode is not a string")
    return Organization(name=_text(raw, "name"), credit_code=credit_code or None)


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"timestamp is not a string: {value!r}")
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=DEPARTMENT_TZ)


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key} is not a non-empty string: {value!r}")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return float(value)
