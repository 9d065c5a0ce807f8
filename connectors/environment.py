"""Connector for the 生态环境局 air-quality system, a legacy ASMX-style XML web service
(dialect in mocks/environment.py).

The service pages with 1-based ``pageIndex``/``pageSize``; resume positions are absolute offsets. A request
that starts off a page boundary picks a page size whose page holds the whole window or, when none fits under
the service's cap, fetches the two covering pages concurrently. Coordinates are CGCS2000 and pass through;
times are naive Asia/Shanghai; "-" or an empty element is a missing value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, NamedTuple
from xml.etree.ElementTree import Element

from connectors.base import DEFAULT_REGIONS, Connector
from connectors.client import DEFAULT_TIMEOUT_S, DepartmentClient
from connectors.concurrency import gather
from connectors.errors import UpstreamBadResponse
from connectors.geo import CRS, from_wgs84, to_wgs84
from connectors.http import get_xml, translating
from connectors.records import ComponentQuery, ComponentRecord, ComponentStatus, Organization, SearchPage
from connectors.values import is_ascii_digits, offset_position, parse_local_time
from schema.thresholds import POLLUTANTS as AQI_POLLUTANTS
from schema.thresholds import load_thresholds

SERVICE_PATH = "/services/AirQuality.asmx"
DEPARTMENT_CRS = CRS.CGCS2000
# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact for the service's times.
DEPARTMENT_TZ = timezone(timedelta(hours=8))
MISSING_VALUES = frozenset({"", "-", "--", "/"})
DEFAULT_HOURS = 24
MAX_HOURS = 168  # the service's longest history
DEFAULT_MAX_PAGE_SIZE = 200  # the service's page-size cap
IDS_PER_CALL = 100
AIR_QUALITY_STATION_CLASS = "0308"
POLLUTANTS = (("AQI", "aqi"), ("PM25", "pm25"), ("PM10", "pm10"), ("SO2", "so2"), ("NO2", "no2"),
              ("O3", "o3"), ("CO", "co"))  # µg/m³, CO in mg/m³: the canonical units already

STATUS_OF_WORD: dict[str, ComponentStatus] = {
    "正常": ComponentStatus.INTACT,
    "故障": ComponentStatus.DAMAGED,
    "停运": ComponentStatus.MISSING,
    "丢失": ComponentStatus.MISSING,
    "占用": ComponentStatus.OCCUPIED,
    "撤销": ComponentStatus.RETIRED,
}
WORDS_OF_STATUS: dict[ComponentStatus, tuple[str, ...]] = {
    status: tuple(word for word, mapped in STATUS_OF_WORD.items() if mapped is status)
    for status in ComponentStatus
}


class StationPage(NamedTuple):
    """One GetStations answer: its stations, the query's total and the offset of its first row."""

    records: list[ComponentRecord]
    total: int
    first_row: int


class EnvironmentConnector(Connector):
    department_id: ClassVar[str] = "environment"
    department_name: ClassVar[str] = "生态环境 Environment"
    component_classes: ClassVar[frozenset[str]] = frozenset({AIR_QUALITY_STATION_CLASS})
    cache_ttls: ClassVar[Mapping[str, float | None]] = {"registry": 600.0, "readings": 60.0}  # hourly data

    def __init__(
        self,
        client: DepartmentClient,
        *,
        regions: Sequence[str] = DEFAULT_REGIONS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        hours: int = DEFAULT_HOURS,
        max_page_size: int = DEFAULT_MAX_PAGE_SIZE,
        **options: Any,
    ) -> None:
        super().__init__(client, regions=regions, timeout_s=timeout_s, **options)
        if not 0 <= hours <= MAX_HOURS:
            raise ValueError(f"hours must be within 0..{MAX_HOURS}")
        if max_page_size < 1:
            raise ValueError("max_page_size must be positive")
        self.hours = hours
        self.max_page_size = max_page_size

    # --- components ------------------------------------------------------------------------------
    async def get_components(self, ids: Sequence[str]) -> list[ComponentRecord]:
        wanted = sorted({i for i in ids if _is_own_station_code(i)})
        chunks = [wanted[start: start + IDS_PER_CALL] for start in range(0, len(wanted), IDS_PER_CALL)]
        results = await gather(*(self._fetch_by_codes(chunk) for chunk in chunks))
        return [record for chunk in results for record in chunk]

    async def search_components(
        self, query: ComponentQuery, after: str | None, first: int,
    ) -> SearchPage[ComponentRecord]:
        start = offset_position(after, self.department_id)  # an offset into the ascending-code order
        filters = _filter_params(query, self.regions)
        if filters is None:  # an empty list filter matches nothing
            return SearchPage(items=[], positions=[], total=0, has_more=False)
        wanted = min(max(first, 0), self.max_page_size)
        pages = await gather(*(
            self._fetch_page(filters, page_index, page_size)
            for page_index, page_size in _covering_pages(start, max(wanted, 1), self.max_page_size)
        ))
        skip = start - pages[0].first_row
        items = [record for page in pages for record in page.records][skip: skip + wanted]
        total = pages[0].total
        return SearchPage(
            items=items,
            positions=[str(start + i + 1) for i in range(len(items))],
            total=total,
            has_more=start + len(items) < total,
        )

    async def check_health(self) -> None:
        root = await get_xml(self.client, self.department_id, f"{SERVICE_PATH}/Ping")
        if (root.text or "").strip() != "OK":
            raise UpstreamBadResponse(self.department_id, f"{self.department_id}: Ping did not answer OK")

    # --- department calls ------------------------------------------------------------------------
    async def _fetch_by_codes(self, codes: list[str]) -> list[ComponentRecord]:
        params = {"codes": ",".join(codes), "hours": self.hours}
        url = f"{SERVICE_PATH}/GetStationsByCodes"
        root = await get_xml(self.client, self.department_id, url, params=params)
        with translating(self.department_id):
            return self._stations(root)

    async def _fetch_page(
        self, filters: dict[str, str], page_index: int, page_size: int,
    ) -> StationPage:
        params = {**filters, "pageIndex": page_index, "pageSize": page_size, "hours": self.hours}
        root = await get_xml(self.client, self.department_id, f"{SERVICE_PATH}/GetStations", params=params)
        with translating(self.department_id):
            total = int(_required(root, "Total"))
            return StationPage(self._stations(root), total, first_row=(page_index - 1) * page_size)

    # --- translation -----------------------------------------------------------------------------
    def _stations(self, root: Element) -> list[ComponentRecord]:
        stations = root.find("{*}Stations")
        if stations is None:
            raise ValueError("no Stations element")
        return [self._station(station) for station in stations.findall("{*}Station")]

    def _station(self, station: Element) -> ComponentRecord:
        lng, lat = to_wgs84(DEPARTMENT_CRS, float(_required(station, "Longitude")),
                            float(_required(station, "Latitude")))
        status_word = _required(station, "Status")
        if status_word not in STATUS_OF_WORD:
            raise ValueError(f"unknown station status {status_word!r}")
        return ComponentRecord(
            id=_required(station, "StationCode"),
            class_code=_required(station, "TypeCode"),
            name=_required(station, "StationName"),
            status=STATUS_OF_WORD[status_word],
            region_code=_required(station, "RegionCode"),
            grid_code=_required(station, "GridCode"),
            lng=lng,
            lat=lat,
            department_id=self.department_id,
            department_name=_required(station, "Authority"),
            owner=_organization(station, "Owner"),
            maintainer=_organization(station, "Maintainer"),
            updated_at=_local_time(_required(station, "UpdateTime")),
            attributes=_air_quality_attributes(station),
        )


# --- dialect helpers ----------------------------------------------------------------------------
def _is_own_station_code(value: str) -> bool:
    return len(value) == 16 and is_ascii_digits(value) and value[6:10] == AIR_QUALITY_STATION_CLASS


def _filter_params(query: ComponentQuery, regions: Sequence[str]) -> dict[str, str] | None:
    """The query in GetStations parameters, or None when a filter lists nothing at all."""
    region_codes = query.region_codes if query.region_codes is not None else tuple(regions)
    lists = (region_codes, query.class_codes, query.statuses)
    if any(values is not None and not values for values in lists):
        return None
    params = {"regionCodes": ",".join(region_codes)}
    if query.grid_code is not None:
        params["gridCode"] = query.grid_code
    if query.class_codes is not None:
        params["classCodes"] = ",".join(query.class_codes)
    if query.statuses is not None:
        params["statusList"] = ",".join(word for status in query.statuses for word in WORDS_OF_STATUS[status])
    if query.bbox is not None:
        corners = (*from_wgs84(DEPARTMENT_CRS, query.bbox.min_lng, query.bbox.min_lat),
                   *from_wgs84(DEPARTMENT_CRS, query.bbox.max_lng, query.bbox.max_lat))
        params["bbox"] = ",".join(repr(value) for value in corners)
    if query.near is not None:
        lng, lat = from_wgs84(DEPARTMENT_CRS, query.near.lng, query.near.lat)
        params["near"] = ",".join(repr(value) for value in (lng, lat, float(query.near.radius_m)))
    return params


def _covering_pages(start: int, count: int, max_page_size: int) -> list[tuple[int, int]]:
    """(pageIndex, pageSize) pairs whose pages, back to back, cover rows [start, start + count).

    The smallest page size that puts the whole window in one page wins; failing that, two consecutive pages of
    ``count`` rows always cover it.
    """
    last = start + count - 1
    for size in range(count, max_page_size + 1):
        if start // size == last // size:
            return [(start // size + 1, size)]
    first_page = start // count + 1
    return [(first_page, count), (first_page + 1, count)]


def _text(element: Element, tag: str) -> str | None:
    child = element.find(f"{{*}}{tag}")
    if child is None:
        return None
    text = (child.text or "").strip()
    return None if text in MISSING_VALUES else text


def _required(element: Element, tag: str) -> str:
    text = _text(element, tag)
    if text is None:
        raise ValueError(f"missing {tag}")
    return text


def _number(element: Element, tag: str) -> float | None:
    text = _text(element, tag)
    return None if text is None else float(text)


def _local_time(text: str) -> datetime:
    return parse_local_time(text, DEPARTMENT_TZ)


def _organization(station: Element, role: str) -> Organization | None:
    name = _text(station, f"{role}Name")
    if name is None:
        return None
    return Organization(name=name, credit_code=_text(station, f"{role}USCC"))


def _readings(element: Element) -> dict[str, Any]:
    """One set of readings; an AQI the department left out is computed by HJ 633-2012 when all six pollutants are
    there (never from some of them: a partial AQI would understate), with its 首要污染物 either way."""
    readings: dict[str, Any] = {key: _number(element, tag) for tag, key in POLLUTANTS}
    index = load_thresholds().aqi.index(readings)
    complete = all(readings[p] is not None for p in AQI_POLLUTANTS)
    if readings["aqi"] is None and complete:
        readings["aqi"] = float(index.aqi) if index.aqi is not None else None
    readings["primary_pollutants"] = list(index.primary_pollutants) if complete else None
    return readings


def _air_quality_attributes(station: Element) -> dict[str, Any]:
    data_time = _text(station, "DataTime")
    hourly_data = station.find("{*}HourlyData")
    hours = [] if hourly_data is None else hourly_data.findall("{*}Hour")
    timed = sorted(((_local_time(hour.attrib["Time"]), hour) for hour in hours), key=lambda pair: pair[0],
                   reverse=True)
    hourly = [{"at": at, **_readings(hour)} for at, hour in timed]
    return {
        **_readings(station),
        "reading_at": None if data_time is None else _local_time(data_time),
        "hourly": hourly,
    }
