"""A spec department's answers, page by page: the request parameters that ask for one page in each pagination style,
what an answer holds (its rows after the answer's check, the count of all matches, the next page's cursor or URL),
and resume positions inside a page for cursor and link-header listings."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jmespath
import orjson

from connectors.errors import UpstreamBadResponse, UserInputError
from connectors.spec.operations import (
    Answer,
    CursorPagination,
    LinkHeaderPagination,
    OffsetPagination,
    PagePagination,
    SearchOperation,
)
from connectors.values import is_ascii_digits

MAX_SHOWN_VALUE = 80  # characters of a department's value quoted in an error's detail


@dataclass(slots=True)
class Page:
    rows: list[Any]
    total: int
    next_token: str | None  # cursor or next-page URL


def encode_position(token: str | None, skip: int) -> str:
    """The resume position after ``skip`` items of the page ``token`` asks for."""
    return base64.urlsafe_b64encode(orjson.dumps([token, skip])).decode()


def decode_position(department: str, position: str | None) -> tuple[str | None, int]:
    if position is None:
        return None, 0
    try:
        token, skip = orjson.loads(base64.urlsafe_b64decode(position.encode()))
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise UserInputError(f"invalid cursor for {department}") from exc
    if not (token is None or isinstance(token, str)) or not isinstance(skip, int) or skip < 0:
        raise UserInputError(f"invalid cursor for {department}")
    return token, skip


def shown(value: Any) -> str:
    """A department's value in a detail, cut short."""
    text = orjson.dumps(value, default=str).decode() if not isinstance(value, str) else repr(value)
    return text if len(text) <= MAX_SHOWN_VALUE else text[:MAX_SHOWN_VALUE] + "…"


def answer_rows(department: str, answer: Answer, body: Any) -> list[Any]:
    """The records in a search or batch answer; ``UpstreamBadResponse`` when the answer's check refuses it."""
    if answer.check is not None and not jmespath.search(answer.check, body):
        message = jmespath.search(answer.error_message, body) if answer.error_message else None
        raise UpstreamBadResponse(department, f"{department}: refused the request: {message or 'check failed'}")
    rows = jmespath.search(answer.items, body)
    if rows is None:
        rows = []
    if not isinstance(rows, list):
        raise UpstreamBadResponse(department, f"{department}: {answer.items!r} is not a list in the answer")
    return rows


class PageReader:
    """The spec's search operation as pages, its expressions compiled once."""

    def __init__(self, department: str, search: SearchOperation) -> None:
        self.department = department
        self.search = search
        self._total = jmespath.compile(search.total) if search.total else None
        pagination = search.pagination
        self._next_cursor = (jmespath.compile(pagination.next_cursor)
                             if isinstance(pagination, CursorPagination) else None)

    def request(self, params: Mapping[str, Any], token: str | None, size: int,
                offset: int = 0) -> tuple[str, dict[str, Any]]:
        """The URL and query parameters of the page of ``size`` at ``offset`` or ``token``."""
        pagination = self.search.pagination
        url = self.search.path
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
        return url, request

    def read(self, response: httpx.Response, body: Any) -> Page:
        """The page an answer holds (raises ValueError or UpstreamBadResponse if it holds none)."""
        rows = answer_rows(self.department, self.search, body)
        total = self._page_total(response, body)
        next_token: str | None = None
        if self._next_cursor is not None:
            found = self._next_cursor.search(body)
            next_token = str(found) if found else None
        elif isinstance(self.search.pagination, LinkHeaderPagination):
            link = response.links.get("next")
            next_token = str(response.url.join(link["url"])) if link and link.get("url") else None
        return Page(rows, total, next_token)

    def _page_total(self, response: httpx.Response, body: Any) -> int:
        if self._total is not None:
            found, where = self._total.search(body), f"total {self.search.total!r}"
        else:
            header = self.search.total_header or ""
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
            raise ValueError(f"{where} is not a count: {shown(found)}")
        return total
