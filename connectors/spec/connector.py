"""``SpecConnector``: a connector that runs a declarative spec instead of code.

Resume positions: an absolute offset for page/size and offset/limit listings; for cursor and link-header listings,
the page's cursor (or URL) plus how many of its items were already seen, because the department can only resume at a
page boundary while the gateway may stop inside a page.

A filter the spec binds to no request parameter (a department API without an area filter, say) is applied here to
the mapped records instead (``GatewayFilter``): the connector reads every record matching the bound filters — at most
``spec.gateway_filter_max_records``, else the department is skipped for that query (``DepartmentSkipped``) — never an
error for the whole query. Resume positions are then offsets into the filtered list.

What to ask the department for a query is planned in ``query_plan.py``; a page's request and what its answer
holds are in ``pages.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
import jmespath
import orjson

from connectors.base import Connector
from connectors.client import DepartmentClient
from connectors.errors import UpstreamUnavailable
from connectors.http import parse_json, send, translating
from connectors.records import ComponentQuery, ComponentRecord, SearchPage
from connectors.spec import crs
from connectors.spec.auth import make_auth
from connectors.spec.mapping import RecordMapper
from connectors.spec.model import ConnectorSpec
from connectors.spec.operations import CursorPagination, LinkHeaderPagination, OffsetPagination, PagePagination
from connectors.spec.pages import Page, PageReader, answer_rows, decode_position, encode_position, shown
from connectors.spec.query_plan import GatewayFilter, QueryPlanner
from connectors.values import offset_position
from connectors.water import plan_window
from schema.codes import is_component_id

PARALLEL_FILTER_PAGES = 4  # pages fetched at once while reading records for a gateway-applied filter


class DepartmentSkipped(Exception):
    """The department cannot serve this query within the gateway's bounds; the others answer without it and the
    response names it in ``extensions.skipped``."""

    def __init__(self, department: str, reason: str) -> None:
        super().__init__(f"{department}: {reason}")
        self.department = department
        self.reason = reason


class SpecConnector(Connector):
    """Built per spec by ``connector_class``; the department and what it serves are the spec's."""

    spec: ClassVar[ConnectorSpec]

    def __init__(self, client: DepartmentClient, **kwargs: Any) -> None:
        kwargs.setdefault("regions", tuple(self.spec.regions))
        kwargs.setdefault("timeout_s", self.spec.timeout_s)
        super().__init__(client, **kwargs)
        self.mapper = RecordMapper(self.spec)
        self.auth = make_auth(self.spec.auth, client, self.department_id)
        self._search = self.spec.operations.search_components
        self._batch = self.spec.operations.get_components
        self.pages = PageReader(self.department_id, self._search)
        self.planner = QueryPlanner(self.regions, self.component_classes, self._search.params,
                                    crs.from_wgs84(self.spec.crs))

    # --- department calls -----------------------------------------------------------------------------------------
    async def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                      json: Any = None) -> httpx.Response:
        return await send(self.client, self.department_id, method, url, params=params, json=json, auth=self.auth)

    async def fetch_page(self, params: Mapping[str, Any], token: str | None, size: int,
                         offset: int = 0) -> Page:
        url, request = self.pages.request(params, token, size, offset)
        response = await self.request("GET", url, params=request or None)
        body = parse_json(self.department_id, response)
        with translating(self.department_id, "page"):
            return self.pages.read(response, body)

    # --- components -----------------------------------------------------------------------------------------------
    def to_records(self, rows: Sequence[Any]) -> list[ComponentRecord]:
        with translating(self.department_id, "records"):
            return [self.mapper.to_record(row) for row in rows]

    async def search_components(self, query: ComponentQuery, after: str | None, first: int,
                                ) -> SearchPage[ComponentRecord]:
        planned = self.planner.plan(query)
        pagination = self._search.pagination
        if planned is None:
            return SearchPage(items=[], positions=[], total=0, has_more=False)
        params, residual = planned
        if residual is not None:
            return await self._search_filtered(params, residual, offset_position(after, self.department_id), first)
        if isinstance(pagination, (PagePagination, OffsetPagination)):
            return await self._search_by_offset(params, offset_position(after, self.department_id), first)
        return await self._search_by_token(params, decode_position(self.department_id, after), first)

    async def _search_filtered(self, params: dict[str, Any], keep: GatewayFilter, offset: int, first: int,
                               ) -> SearchPage[ComponentRecord]:
        found = [record for record in self.to_records(await self.read_all(params, keep)) if keep(record)]
        items = found[offset: offset + max(first, 0)]
        return SearchPage(items=items, positions=[str(offset + i + 1) for i in range(len(items))], total=len(found),
                          has_more=offset + len(items) < len(found))

    async def read_all(self, params: dict[str, Any], keep: GatewayFilter) -> list[Any]:
        """Every row matching ``params``, for a filter the gateway applies; ``DepartmentSkipped`` when that is more
        than ``gateway_filter_max_records`` (by the department's total, or by what it actually sends)."""
        limit = self.spec.gateway_filter_max_records
        pagination = self._search.pagination
        size = pagination.max_size
        first = await self.fetch_page(params, None, size)
        too_many = DepartmentSkipped(
            self.department_id, f"its API cannot filter by {', '.join(keep.names)}, so the gateway would read more "
                                f"than {limit} records to apply the filter; narrow the query (regionCode, classCodes)")
        if first.total > limit:
            raise too_many
        rows = list(first.rows)
        if isinstance(pagination, (PagePagination, OffsetPagination)):
            gate = asyncio.Semaphore(PARALLEL_FILTER_PAGES)

            async def page_at(offset: int) -> list[Any]:
                async with gate:
                    return (await self.fetch_page(params, None, size, offset)).rows

            if first.rows:
                pages = await asyncio.gather(*(page_at(offset) for offset in range(size, first.total, size)))
                rows += [row for page in pages for row in page]
        else:
            token = first.next_token
            while token is not None and first.rows:
                if len(rows) >= limit:  # the department sends more than its total said
                    raise too_many
                page = await self.fetch_page(params, token, size)
                if not page.rows:
                    break
                rows += page.rows
                token = page.next_token
        if len(rows) > limit:
            raise too_many
        return rows

    async def _search_by_offset(self, params: dict[str, Any], offset: int, first: int,
                                ) -> SearchPage[ComponentRecord]:
        pagination = self._search.pagination
        assert isinstance(pagination, (PagePagination, OffsetPagination))
        count = max(1, min(first, pagination.max_size))
        if isinstance(pagination, PagePagination):
            calls = plan_window(offset, count, pagination.max_size)
            pages = await asyncio.gather(*(self.fetch_page(params, None, call.size, (call.page - 1) * call.size)
                                           for call in calls))
            rows = [row for call, page in zip(calls, pages, strict=True) for row in page.rows[call.skip:]]
        else:
            pages = [await self.fetch_page(params, None, count, offset)]
            rows = pages[0].rows
        items = self.to_records(rows[:first]) if first > 0 else []
        total = pages[0].total
        return SearchPage(items=items, positions=[str(offset + i + 1) for i in range(len(items))], total=total,
                          has_more=offset + len(items) < total)

    async def _search_by_token(self, params: dict[str, Any], start: tuple[str | None, int], first: int,
                               ) -> SearchPage[ComponentRecord]:
        pagination = self._search.pagination
        assert isinstance(pagination, (CursorPagination, LinkHeaderPagination))
        token, skip = start
        rows: list[Any] = []
        positions: list[str] = []
        wanted = max(first, 0)
        more = False
        while True:
            page = await self.fetch_page(params, token, max(1, min(pagination.max_size, wanted - len(rows) + skip)))
            for index in range(skip, len(page.rows)):
                if len(rows) >= wanted:
                    more = True
                    break
                rows.append(page.rows[index])
                at_page_end = index == len(page.rows) - 1 and page.next_token is not None
                position = encode_position(page.next_token, 0) if at_page_end else encode_position(token, index + 1)
                positions.append(position)
            if more or page.next_token is None:
                break
            if len(rows) >= wanted:
                more = True
                break
            token, skip = page.next_token, 0
        return SearchPage(items=self.to_records(rows), positions=positions, total=page.total, has_more=more)

    async def get_components(self, ids: Sequence[str]) -> list[ComponentRecord]:
        batch = self._batch
        if batch is None:
            raise NotImplementedError
        wanted = [i for i in dict.fromkeys(ids) if self.owns(i)]
        chunks = [wanted[start: start + batch.max_ids] for start in range(0, len(wanted), batch.max_ids)]

        async def fetch(chunk: list[str]) -> list[ComponentRecord]:
            if batch.method == "POST":
                response = await self.request("POST", batch.path, json={batch.ids_param: chunk})
            else:
                response = await self.request("GET", batch.path, params={batch.ids_param: batch.join.join(chunk)})
            body = parse_json(self.department_id, response)
            with translating(self.department_id, "batch answer"):
                return self.to_records(answer_rows(self.department_id, batch, body))

        answers = await asyncio.gather(*(fetch(chunk) for chunk in chunks))
        by_id = {record.id: record for records in answers for record in records}
        return [by_id[i] for i in wanted if i in by_id]

    def owns(self, component_id: str) -> bool:
        return (is_component_id(component_id) and component_id[6:10] in self.component_classes
                and component_id[:6] in self.regions)

    def query_params(self, query: ComponentQuery) -> dict[str, Any] | None:
        """The department's parameters for the filters it can take; ``None`` when the query cannot match anything
        here."""
        planned = self.planner.plan(query)
        return planned[0] if planned is not None else None

    def bound_filters(self) -> set[str]:
        """The query filters the spec binds to a request parameter (pushed down to the department)."""
        return self.planner.bound_filters()

    # --- health ---------------------------------------------------------------------------------------------------
    async def check_health(self) -> None:
        health = self.spec.operations.health
        body = parse_json(self.department_id, await self.request("GET", health.path))
        with translating(self.department_id, "health answer"):
            healthy = health.check is None or jmespath.search(health.check, body)
        if not healthy:
            raise UpstreamUnavailable(self.department_id, f"{self.department_id}: reports itself unhealthy "
                                                          f"({health.check} is not true of {shown(body)})")


def connector_class(spec: ConnectorSpec) -> type[SpecConnector]:
    """A ``SpecConnector`` subclass whose class-level declarations are the spec's."""
    fingerprint = hashlib.sha256(orjson.dumps(spec.to_document(), option=orjson.OPT_SORT_KEYS)).hexdigest()
    return type(f"SpecConnector_{spec.department}", (SpecConnector,), {
        "spec": spec,
        "version": f"spec-{fingerprint[:16]}",  # a changed spec never meets the old one's cache entries
        "cache_ttls": {"registry": spec.cache.registry_s, "readings": spec.cache.readings_s},
        "department_id": spec.department,
        "department_name": spec.name,
        "component_classes": frozenset(spec.component_classes),
    })
