"""Connector for the 数字城管 case system: cases (案卷) and monitoring alarms, no components of its own.

The department answers 1-based ``pageNo``/``pageSize`` pages in ``{"success", "total", "rows"}`` envelopes. Resume
positions are absolute offsets into the department's ordering (ascending 案卷编号 / 报警编号); a window that
straddles two department pages is read with one larger page when a size covers it, else with two concurrent page
calls. What its rows and parameters mean is in ``connectors/citymgmt_dialect.py``; its evaluation statistics
(``/api/stats``) in ``connectors/citymgmt_stats.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from connectors.base import Connector
from connectors.citymgmt_dialect import alert_params, alert_record, case_params, event_record
from connectors.citymgmt_stats import region_stats_record, stats_params
from connectors.concurrency import gather
from connectors.errors import UpstreamBadResponse, UpstreamUnavailable
from connectors.http import get_json, translating
from connectors.records import AlertQuery, AlertRecord, EventQuery, EventRecord, SearchPage
from connectors.statistics import RegionStats
from connectors.values import is_ascii_digits, offset_position

DEPARTMENT_ID = "citymgmt"
MAX_PAGE_SIZE = 500
BATCH_CHUNK = 100
CASE_ID_LENGTH = 13

CASES_PATH = "/api/cases"
CASES_BATCH_PATH = "/api/cases/batch"
ALARMS_PATH = "/api/alarms"
STATS_PATH = "/api/stats"
HEARTBEAT_PATH = "/api/heartbeat"

RecordT = TypeVar("RecordT")


# --- pagination -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PagePlan:
    """Consecutive department pages (1-based, all of ``size``); their rows start at offset ``start``."""

    size: int
    pages: tuple[int, ...]

    @property
    def start(self) -> int:
        return (self.pages[0] - 1) * self.size


def plan_pages(offset: int, count: int, max_size: int = MAX_PAGE_SIZE) -> PagePlan:
    """Pages covering rows [offset, offset + count), count >= 1.

    One page when a size of at most twice the count aligns with the window (never more rows than two pages of
    ``count``), else two consecutive pages of ``count``.
    """
    for size in range(count, min(max_size, 2 * count) + 1):
        if offset % size + count <= size:
            return PagePlan(size, (offset // size + 1,))
    return PagePlan(count, (offset // count + 1, offset // count + 2))


def _empty_page() -> SearchPage[Any]:
    return SearchPage(items=[], positions=[], total=0, has_more=False)


class CityManagementConnector(Connector):
    """数字城管: cases (案卷) and 运行监测 alarms for the served districts."""

    department_id: ClassVar[str] = DEPARTMENT_ID
    department_name: ClassVar[str] = "数字城管 City management"
    serves_events: ClassVar[bool] = True
    serves_alerts: ClassVar[bool] = True
    serves_stats: ClassVar[bool] = True
    cache_ttls: ClassVar[Mapping[str, float | None]] = {"events": 20.0, "alerts": None, "stats": 120.0}

    async def get_events(self, ids: Sequence[str]) -> list[EventRecord]:
        wanted = sorted({case_id for case_id in ids if len(case_id) == CASE_ID_LENGTH and is_ascii_digits(case_id)})
        chunks = [wanted[i: i + BATCH_CHUNK] for i in range(0, len(wanted), BATCH_CHUNK)]
        pages = await gather(*(self._fetch(CASES_BATCH_PATH, {"ajbh": ",".join(chunk)})
                                       for chunk in chunks))
        with translating(self.department_id):
            return [event_record(row) for _, rows in pages for row in rows]

    async def search_events(self, query: EventQuery, after: str | None,
                            first: int) -> SearchPage[EventRecord]:
        offset = offset_position(after, DEPARTMENT_ID)
        params = case_params(query)
        if params is None:
            return _empty_page()
        return await self._search(CASES_PATH, params, offset, first, event_record)

    async def search_alerts(self, query: AlertQuery, after: str | None,
                            first: int) -> SearchPage[AlertRecord]:
        offset = offset_position(after, DEPARTMENT_ID)
        params = alert_params(query)
        if params is None:
            return _empty_page()
        return await self._search(ALARMS_PATH, params, offset, first, alert_record)

    async def region_stats(self, region_codes: Sequence[str], start: datetime, end: datetime) -> list[RegionStats]:
        """One ``/api/stats`` call for all the districts; an asked district missing from the answer is a bad
        response (never a silent hole). Rows are returned as the department sent them (ascending sqbm)."""
        if not region_codes:
            return []
        params = stats_params(region_codes, start, end)
        _, rows = await self._fetch(STATS_PATH, params)
        with translating(self.department_id):
            records = [region_stats_record(row) for row in rows]
            missing = set(region_codes) - {record.region_code for record in records}
            if missing:
                raise ValueError(f"no stats row for {','.join(sorted(missing))}")
        return records

    async def check_health(self) -> None:
        body = await get_json(self.client, self.department_id, HEARTBEAT_PATH)
        if not isinstance(body, dict) or "status" not in body:
            raise UpstreamBadResponse(self.department_id, f"{self.department_id}: heartbeat without a status")
        if body.get("success") is not True or body["status"] != "UP":
            raise UpstreamUnavailable(self.department_id,
                                      f"{self.department_id}: heartbeat reports {body['status']!r}")

    # --- department calls ----------------------------------------------------------------------------------
    async def _search(self, path: str, params: dict[str, str], offset: int, first: int,
                      to_record: Callable[[Mapping[str, Any]], RecordT]) -> SearchPage[RecordT]:
        count = min(max(first, 0), MAX_PAGE_SIZE)
        # With nothing to read, one single-row page still tells the total.
        plan = plan_pages(offset, count) if count else PagePlan(1, (1,))
        answers = await gather(*(
            self._fetch(path, {**params, "pageNo": str(page), "pageSize": str(plan.size)})
            for page in plan.pages))
        total = answers[0][0]
        rows = [row for _, page_rows in answers for row in page_rows]
        window = rows[offset - plan.start: offset - plan.start + count]
        with translating(self.department_id):
            items = [to_record(row) for row in window]
        return SearchPage(
            items=items,
            positions=[str(offset + index + 1) for index in range(len(items))],
            total=total,
            has_more=offset + len(items) < total,
        )

    async def _fetch(self, path: str, params: Mapping[str, str]) -> tuple[int, list[Mapping[str, Any]]]:
        """(total, rows) of one department answer, after checking its envelope."""
        body = await get_json(self.client, self.department_id, path, params=params)
        with translating(self.department_id):
            if body.get("success") is not True:
                raise ValueError(f"success is {body.get('success')!r}: {body.get('msg')!r}")
            total, rows = body["total"], body["rows"]
            if not isinstance(total, int) or not isinstance(rows, list):
                raise TypeError("total must be an integer and rows a list")
            if not all(isinstance(row, dict) for row in rows):
                raise TypeError("rows must be objects")
            return total, rows
