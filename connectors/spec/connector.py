"""``SpecConnector``: a connector that runs a declarative spec instead of code.

Resume positions: an absolute offset for page/size and offset/limit listings; for cursor and link-header listings,
the page's cursor (or URL) plus how many of its items were already seen, because the department can only resume at a
page boundary while the gateway may stop inside a page.

A filter the spec binds to no request parameter (a department API without an area filter, say) is applied here to
the mapped records instead (``GatewayFilter``): the connector reads every record matching the bound filters — at most
``spec.gateway_filter_max_records``, else the department is skipped for that query (``DepartmentSkipped``) — never an
error for the whole query. Resume positions are then offsets into the filtered list.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import jmespath
import orjson

from connectors.base import Connector
from connectors.client import DepartmentClient
from connectors.errors import UpstreamBadResponse, UpstreamUnavailable, UserInputError
from connectors.geo import haversine_m
from connectors.http import parse_json, send, translating
from connectors.records import ComponentQuery, ComponentRecord, SearchPage
from connectors.spec import crs
from connectors.spec.auth import make_auth
from connectors.spec.mapping import RecordMapper
from connectors.spec.model import (
    Answer,
    ConnectorSpec,
    CursorPagination,
    LinkHeaderPagination,
    OffsetPagination,
    PagePagination,
    QueryBinding,
)
from connectors.values import is_ascii_digits, offset_position
from connectors.water import plan_window
from schema.codes import is_component_id

MAX_SHOWN_VALUE = 80  # characters of a department's value quoted in an error's detail
PARALLEL_FILTER_PAGES = 4  # pages fetched at once while reading records for a gateway-applied filter
FILTERS = ("region_codes", "class_codes", "grid_code", "statuses", "bbox", "near")  # ComponentQuery's filters


class DepartmentSkipped(Exception):
    """The department cannot serve this query within the gateway's bounds; the others answer without it and the
    response names it in ``extensions.skipped``."""

    def __init__(self, department: str, reason: str) -> None:
        super().__init__(f"{department}: {reason}")
        self.department = department
        self.reason = reason


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


@dataclass(slots=True)
class Page:
    rows: list[Any]
    total: int
    next_token: str | None  # cursor or next-page URL


def _encode(token: str | None, skip: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([token, skip])).decode()


def _decode(department: str, position: str | None) -> tuple[str | None, int]:
    if position is None:
        return None, 0
    try:
        token, skip = orjson.loads(base64.urlsafe_b64decode(position.encode()))
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise UserInputError(f"invalid cursor for {department}") from exc
    if not (token is None or isinstance(token, str)) or not isinstance(skip, int) or skip < 0:
        raise UserInputError(f"invalid cursor for {department}")
    return token, skip


def _shown(value: Any) -> str:
    """A department's value in a detail, cut short."""
    text = orjson.dumps(value, default=str).decode() if not isinstance(value, str) else repr(value)
    return text if len(text) <= MAX_SHOWN_VALUE else text[:MAX_SHOWN_VALUE] + "…"


class SpecConnector(Connector):
    """Built per spec by ``connector_class``; the department and what it serves are the spec's."""

    spec: ClassVar[ConnectorSpec]

    def __init__(self, client: DepartmentClient, **kwargs: Any) -> None:
        kwargs.setdefault("regions", tuple(self.spec.regions))
        kwargs.setdefault("timeout_s", self.spec.timeout_s)
        super().__init__(client, **kwargs)
        self.mapper = RecordMapper(self.spec)
        self.auth = make_auth(self.spec.auth, client, self.department_id)
        operations = self.spec.operations
        self._search = operations.search_components
        self._batch = operations.get_components
        self._total = jmespath.compile(self._search.total) if self._search.total else None
        pagination = self._search.pagination
        self._next_cursor = (jmespath.compile(pagination.next_cursor)
                             if isinstance(pagination, CursorPagination) else None)
        self._to_department_crs = crs.from_wgs84(self.spec.crs)

    # --- department calls -----------------------------------------------------------------------------------------
    async def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                      json: Any = None) -> httpx.Response:
        return await send(self.client, self.department_id, method, url, params=params, json=json, auth=self.auth)

    def answer_rows(self, answer: Answer, body: Any) -> list[Any]:
        department = self.department_id
        if answer.check is not None and not jmespath.search(answer.check, body):
            message = jmespath.search(answer.error_message, body) if answer.error_message else None
            raise UpstreamBadResponse(department, f"{department}: refused the request: {message or 'check failed'}")
        rows = jmespath.search(answer.items, body)
        if rows is None:
            rows = []
        if not isinstance(rows, list):
            raise UpstreamBadResponse(department, f"{department}: {answer.items!r} is not a list in the answer")
        return rows

    async def fetch_page(self, params: Mapping[str, Any], token: str | None, size: int,
                         offset: int = 0) -> Page:
        pagination = self._search.pagination
        url = self._search.path
        request = dict(params)
        if isinstance(pagination, PagePagination):
            request[pagination.page_param] = offset // size + pagination.first_page
            request[pagination.size_param] = size
        elif isinstance(pagination, OffsetPagination):
            request[pagination.offset_param] = offset
            request[pagination.limit_param] = size
        elif isinstance(pagination, CursorPagination):
            request[pagination.size_param] = size
            if token is not None:
                request[pagination.cursor_param] = token
        elif token is not None:  # link header: the next URL carries every parameter
            url, request = token, {}
        else:
            request[pagination.size_param] = size
        response = await self.request("GET", url, params=request or None)
        body = parse_json(self.department_id, response)
        with translating(self.department_id, "page"):
            rows = self.answer_rows(self._search, body)
            total = self._page_total(response, body)
            next_token: str | None = None
            if self._next_cursor is not None:
                found = self._next_cursor.search(body)
                next_token = str(found) if found else None
            elif isinstance(pagination, LinkHeaderPagination):
                link = response.links.get("next")
                next_token = str(response.url.join(link["url"])) if link and link.get("url") else None
        return Page(rows, total, next_token)

    def _page_total(self, response: httpx.Response, body: Any) -> int:
        if self._total is not None:
            found, where = self._total.search(body), f"total {self._search.total!r}"
        else:
            header = self._search.total_header or ""
            found, where = response.headers.get(header), f"header {header}"
            if found is None:
                raise ValueError(f"the answer has no {header} header")
        total: int | None = None
        if isinstance(found, str) and is_ascii_digits(found.strip()):
            total = int(found)
        elif isinstance(found, int) and not isinstance(found, bool):
            total = found
        elif isinstance(found, float) and found.is_integer():
            total = int(found)
        if total is None or total < 0:
            raise ValueError(f"{where} is not a count: {_shown(found)}")
        return total

    # --- components -----------------------------------------------------------------------------------------------
    def to_records(self, rows: Sequence[Any]) -> list[ComponentRecord]:
        with translating(self.department_id, "records"):
            return [self.mapper.to_record(row) for row in rows]

    async def search_components(self, query: ComponentQuery, after: str | None, first: int,
                                ) -> SearchPage[ComponentRecord]:
        planned = self.plan(query)
        pagination = self._search.pagination
        if planned is None:
            return SearchPage(items=[], positions=[], total=0, has_more=False)
        params, residual = planned
        if residual is not None:
            return await self._search_filtered(params, residual, offset_position(after, self.department_id), first)
        if isinstance(pagination, (PagePagination, OffsetPagination)):
            return await self._search_by_offset(params, offset_position(after, self.department_id), first)
        return await self._search_by_token(params, _decode(self.department_id, after), first)

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
                positions.append(_encode(page.next_token, 0) if at_page_end else _encode(token, index + 1))
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
                return self.to_records(self.answer_rows(batch, body))

        answers = await asyncio.gather(*(fetch(chunk) for chunk in chunks))
        by_id = {record.id: record for records in answers for record in records}
        return [by_id[i] for i in wanted if i in by_id]

    def owns(self, component_id: str) -> bool:
        return (is_component_id(component_id) and component_id[6:10] in self.component_classes
                and component_id[:6] in self.regions)

    def query_params(self, query: ComponentQuery) -> dict[str, Any] | None:
        """The department's parameters for the filters it can take; ``None`` when the query cannot match anything
        here."""
        planned = self.plan(query)
        return planned[0] if planned is not None else None

    def bound_filters(self) -> set[str]:
        """The query filters the spec binds to a request parameter (pushed down to the department)."""
        return {binding.source for binding in self._search.params.values() if isinstance(binding, QueryBinding)}

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
        for name, binding in self._search.params.items():
            if isinstance(binding, str):
                params[name] = binding
                continue
            rendered = self._render(binding, values[binding.source])
            if rendered is not None:
                params[name] = rendered
        return params, residual

    def _render(self, binding: QueryBinding, value: Any) -> str | None:
        if value is None:
            return None
        if binding.source in ("region_codes", "class_codes"):
            return binding.join.join(value)
        if binding.source == "statuses":
            return binding.join.join((binding.values or {})[status.value] for status in value)
        if binding.source == "bbox":
            min_x, min_y = self._to_department_crs(value.min_lng, value.min_lat)
            max_x, max_y = self._to_department_crs(value.max_lng, value.max_lat)
            return (binding.format or "").format(min_lng=repr(min_x), min_lat=repr(min_y), max_lng=repr(max_x),
                                                 max_lat=repr(max_y))
        if binding.source == "near":
            x, y = self._to_department_crs(value.lng, value.lat)
            return (binding.format or "").format(lng=repr(x), lat=repr(y), radius_m=repr(float(value.radius_m)))
        return str(value)

    # --- health ---------------------------------------------------------------------------------------------------
    async def check_health(self) -> None:
        health = self.spec.operations.health
        body = parse_json(self.department_id, await self.request("GET", health.path))
        with translating(self.department_id, "health answer"):
            healthy = health.check is None or jmespath.search(health.check, body)
        if not healthy:
            raise UpstreamUnavailable(self.department_id, f"{self.department_id}: reports itself unhealthy "
                                                          f"({health.check} is not true of {_shown(body)})")


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
