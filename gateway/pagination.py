"""Relay connections across departments.

Every department answers in ascending id order; the gateway merges the answers by id, so a page is the ``first``
smallest ids after the cursor over all departments. The cursor records, per department, the department's own resume
position (``SearchPage.positions``) after the last item of it that was consumed, so the next page resumes each
department exactly where the merge stopped: no duplicates, no gaps. Cursors are opaque (base64url JSON) and signed
with HMAC, and they name the filter they were made for: a cursor replayed with another filter is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson

from connectors.records import SearchPage
from gateway.exceptions import UserInputError

RecordT = TypeVar("RecordT")
CURSOR_VERSION = 1
DONE = "~"  # position of a department that has nothing more to give


@dataclass(slots=True)
class CursorState:
    kind: str
    fingerprint: str
    positions: dict[str, str | None] = field(default_factory=dict)


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("cursor secret must be at least 16 bytes")
        self._secret = secret

    def _sign(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._secret, payload, hashlib.sha256).digest()[:12]).decode()

    def encode(self, state: CursorState) -> str:
        payload = orjson.dumps({"v": CURSOR_VERSION, "k": state.kind, "f": state.fingerprint, "p": state.positions},
                               option=orjson.OPT_SORT_KEYS)
        return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + self._sign(payload)

    def decode(self, cursor: str, *, kind: str, fingerprint: str) -> CursorState:
        try:
            body, signature = cursor.rsplit(".", 1)
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (ValueError, TypeError) as exc:
            raise UserInputError("malformed cursor: pass back an endCursor or edge cursor unchanged",
                                 argument="after") from exc
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise UserInputError("malformed cursor: it was not issued by this gateway or was altered",
                                 argument="after")
        raw = orjson.loads(payload)
        if raw.get("v") != CURSOR_VERSION or raw.get("k") != kind:
            raise UserInputError(f"cursor was issued for another list, not {kind}", argument="after")
        if raw.get("f") != fingerprint:
            raise UserInputError("cursor was issued for a different filter; start again without `after`",
                                 argument="after")
        return CursorState(kind=kind, fingerprint=fingerprint, positions=dict(raw.get("p") or {}))


def fingerprint(*parts: Any) -> str:
    return hashlib.blake2b(orjson.dumps(parts, default=str, option=orjson.OPT_SORT_KEYS),
                           digest_size=8).hexdigest()


@dataclass(slots=True)
class MergedPage(Generic[RecordT]):
    items: list[RecordT]
    total: int
    has_next: bool
    _departments: list[str]
    _positions_after: list[str]
    _start: dict[str, str | None]
    _encode: Callable[[dict[str, str | None]], str]
    _cursors: list[str] | None = None

    def cursors(self) -> list[str]:
        """The cursor after each item; computed on demand (most clients only read ``endCursor``)."""
        if self._cursors is None:
            positions = dict(self._start)
            out = []
            for department, position in zip(self._departments, self._positions_after, strict=True):
                positions[department] = position
                out.append(self._encode(positions))
            self._cursors = out
        return self._cursors

    def end_cursor(self) -> str | None:
        if not self.items:
            return None
        positions = dict(self._start)
        for department, position in zip(self._departments, self._positions_after, strict=True):
            positions[department] = position
        return self._encode(positions)


def merge_pages(
    pages: dict[str, SearchPage[RecordT]],
    *,
    first: int,
    start: dict[str, str | None],
    key: Callable[[RecordT], str],
    encode: Callable[[dict[str, str | None]], str],
) -> MergedPage[RecordT]:
    """Take the ``first`` smallest keys over the departments' pages (each already ascending)."""
    heads: list[tuple[str, int, str]] = []
    for department, page in pages.items():
        if page.items:
            heads.append((key(page.items[0]), 0, department))
    heapq.heapify(heads)
    items: list[RecordT] = []
    departments: list[str] = []
    positions_after: list[str] = []
    while heads and len(items) < first:
        _, index, department = heapq.heappop(heads)
        page = pages[department]
        items.append(page.items[index])
        departments.append(department)
        last_of_department = index + 1 == len(page.items)
        positions_after.append(DONE if last_of_department and not page.has_more else page.positions[index])
        if not last_of_department:
            heapq.heappush(heads, (key(page.items[index + 1]), index + 1, department))
    consumed = Counter(departments)
    has_next = bool(heads) or any(
        page.has_more and consumed[department] == len(page.items) for department, page in pages.items()
    )
    return MergedPage(
        items=items,
        total=sum(page.total for page in pages.values()),
        has_next=has_next,
        _departments=departments,
        _positions_after=positions_after,
        _start=dict(start),
        _encode=encode,
    )

