"""Relay connections across departments.

Every department answers in ascending id order; the gateway merges the answers by id, so a page is the ``first``
smallest ids after the cursor over all departments. The cursor records, per department, the department's own resume
position (``SearchPage.positions``) after the last item of it that was consumed, so the next page resumes each
department exactly where the merge stopped: no duplicates, no gaps. Cursors are sealed with AES-GCM — opaque, so a
department's page tokens and next-page URLs stay inside, and tamper-proof — and they name the filter they were made
for: a cursor replayed with another filter is refused.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Generic, Protocol, TypeVar

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connectors.concurrency import gather
from connectors.records import SearchPage
from gateway.exceptions import UpstreamError, UserInputError

CURSOR_VERSION = 2
CURSOR_NONCE_BYTES = 12
CURSOR_KEY_CONTEXT = b"yiwang cursor v2"
CURSOR_NONCE_CONTEXT = b"yiwang cursor nonce v2"
DONE = "~"  # position of a department that has nothing more to give
# Far above a real cursor (a position per department, URLs at most): a longer one is refused before it is decoded.
MAX_CURSOR_LENGTH = 16_384


@dataclass(slots=True)
class CursorState:
    kind: str
    fingerprint: str
    positions: dict[str, str | None] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)


class CursorCodec:
    """Cursors are opaque: the state is sealed with AES-GCM under a key derived from the cursor secret, so a client
    can neither read a department's positions (its page tokens or next-page URLs are department internals) nor alter
    them; a cursor that does not open was not issued by a gateway sharing this secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("cursor secret must be at least 16 bytes")
        self._aead = AESGCM(hashlib.sha256(CURSOR_KEY_CONTEXT + secret).digest())
        self._nonce_key = hashlib.sha256(CURSOR_NONCE_CONTEXT + secret).digest()

    def encode(self, state: CursorState) -> str:
        payload = orjson.dumps({"v": CURSOR_VERSION, "k": state.kind, "f": state.fingerprint, "p": state.positions,
                                "t": state.totals}, option=orjson.OPT_SORT_KEYS)
        # A synthetic nonce (as in SIV): the same state seals to the same cursor, so a page's endCursor is its last
        # edge's cursor; only equal states share a nonce, which tells no more than that they are equal.
        nonce = hmac.new(self._nonce_key, payload, hashlib.sha256).digest()[:CURSOR_NONCE_BYTES]
        sealed = nonce + self._aead.encrypt(nonce, payload, CURSOR_KEY_CONTEXT)
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def decode(self, cursor: str, *, kind: str, fingerprint: str) -> CursorState:
        malformed = UserInputError("malformed cursor: pass back an endCursor or edge cursor unchanged",
                                   argument="after")
        if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
            raise malformed
        try:
            sealed = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (ValueError, TypeError) as exc:
            raise malformed from exc
        if len(sealed) <= CURSOR_NONCE_BYTES:
            raise malformed
        try:
            payload = self._aead.decrypt(sealed[:CURSOR_NONCE_BYTES], sealed[CURSOR_NONCE_BYTES:], CURSOR_KEY_CONTEXT)
        except InvalidTag:
            raise UserInputError("malformed cursor: it was not issued by this gateway or was altered",
                                 argument="after") from None
        raw = orjson.loads(payload)
        if not isinstance(raw, dict) or raw.get("v") != CURSOR_VERSION or raw.get("k") != kind:
            raise UserInputError(f"cursor was issued for another list, not {kind}", argument="after")
        if raw.get("f") != fingerprint:
            raise UserInputError("cursor was issued for a different filter; start again without `after`",
                                 argument="after")
        positions, totals = raw.get("p") or {}, raw.get("t") or {}
        if not (isinstance(positions, dict) and all(p is None or isinstance(p, str) for p in positions.values())
                and isinstance(totals, dict) and all(type(t) is int for t in totals.values())):
            raise malformed
        return CursorState(kind=kind, fingerprint=fingerprint, positions=positions, totals=totals)


def fingerprint(*parts: Any) -> str:
    return hashlib.blake2b(orjson.dumps(parts, default=str, option=orjson.OPT_SORT_KEYS),
                           digest_size=8).hexdigest()


class Identified(Protocol):
    @property
    def id(self) -> str: ...


RecordT = TypeVar("RecordT", bound=Identified)
Encode = Callable[[dict[str, str | None], dict[str, int]], str]
_id = attrgetter("id")


class DepartmentSource(Protocol[RecordT]):
    """One department's part of a merged list: its pages, and which of its records the caller may see."""

    @property
    def department(self) -> str: ...

    async def page(self, after: str | None, size: int) -> SearchPage[RecordT] | UpstreamError:
        """Up to ``size`` items after resume position ``after``, or the department's failure."""
        ...

    def keep(self, record: RecordT) -> bool:
        """False for a record to drop without disturbing the department's position."""
        ...


@dataclass(slots=True)
class MergedPage(Generic[RecordT]):
    items: list[RecordT]
    total: int
    has_next: bool
    _departments: list[str]
    _positions_after: list[str]
    _start: dict[str, str | None]
    _totals: dict[str, int]
    _encode: Encode
    _cursors: list[str] | None = None
    failures: list[UpstreamError] = field(default_factory=list)  # departments left out of this page

    def cursors(self) -> list[str]:
        """The cursor after each item; computed on demand (most clients only read ``endCursor``)."""
        if self._cursors is None:
            positions = dict(self._start)
            out = []
            for department, position in zip(self._departments, self._positions_after, strict=True):
                positions[department] = position
                out.append(self._encode(positions, self._totals))
            self._cursors = out
        return self._cursors

    def end_cursor(self) -> str | None:
        if not self.items:
            return None
        if self._cursors is not None:
            return self._cursors[-1]
        positions = dict(self._start)
        positions.update(zip(self._departments, self._positions_after, strict=True))
        return self._encode(positions, self._totals)


@dataclass(slots=True)
class _Buffer(Generic[RecordT]):
    items: list[RecordT]
    positions: list[str]
    index: int
    has_more: bool
    resume: str | None  # the department's position after everything it sent, kept or not


async def merge_walk(
    sources: Sequence[DepartmentSource[RecordT]],
    *,
    first: int,
    start: CursorState | None,
    encode: Encode,
) -> MergedPage[RecordT]:
    """Take the ``first`` smallest ids over all departments after their start positions.

    Departments are asked concurrently; a department whose answer runs out before the page is full (it caps its
    page size) is asked again from where it stopped, because its next items may sort before everyone else's.
    A department that fails is left out of this page and listed in its ``failures``; its position in the cursor
    stays where it was, and the page says it has a next one. Items its ``keep`` refuses are dropped without
    disturbing the department's position.
    """
    by_name = {source.department: source for source in sources}
    departments = list(by_name)
    buffers: dict[str, _Buffer[RecordT]] = {}
    failed: set[str] = set()
    failures: list[UpstreamError] = []
    positions = {d: start.positions.get(d) if start else None for d in departments}
    totals = {d: start.totals.get(d, 0) for d in departments if positions[d] == DONE} if start else {}

    async def refill(names: Sequence[str], wanted: int) -> None:
        results = await gather(*(by_name[d].page(_resume(d, buffers, positions), max(wanted, 1)) for d in names))
        for name, result in zip(names, results, strict=True):
            if isinstance(result, UpstreamError):
                failures.append(result)
                buffers.pop(name, None)
                failed.add(name)
                continue
            totals.setdefault(name, result.total)
            items, item_positions = result.items, result.positions
            resume = item_positions[-1] if items else _resume(name, buffers, positions)
            keep = by_name[name].keep
            kept = [(item, pos) for item, pos in zip(items, item_positions, strict=True) if keep(item)]
            items, item_positions = [k[0] for k in kept], [k[1] for k in kept]
            # A department that claims more but sent nothing would be asked forever: take it at its word once.
            has_more = result.has_more and bool(result.items)
            buffers[name] = _Buffer(items, item_positions, 0, has_more, resume)

    await refill([d for d in departments if positions[d] != DONE], first)
    items: list[RecordT] = []
    taken_from: list[str] = []
    positions_after: list[str] = []
    while len(items) < first:
        starved = [d for d, b in buffers.items() if b.index == len(b.items) and b.has_more]
        if starved:
            await refill(starved, first - len(items))
            continue
        heads = sorted((b.items[b.index].id, d) for d, b in buffers.items() if b.index < len(b.items))
        if not heads:
            break
        department = heads[0][1]
        buffer = buffers[department]
        # Take the whole run of this department that sorts before every other department's head.
        end = len(buffer.items)
        if len(heads) > 1:
            end = bisect.bisect_left(buffer.items, heads[1][0], lo=buffer.index, key=_id)
        end = min(end, buffer.index + first - len(items))
        items.extend(buffer.items[buffer.index:end])
        taken_from.extend([department] * (end - buffer.index))
        positions_after.extend(buffer.positions[buffer.index:end])
        if end == len(buffer.items) and not buffer.has_more:
            positions_after[-1] = DONE
        buffer.index = end
    # A failed department keeps its position, so it may still have items: the client should ask again.
    has_next = bool(failed) or any(b.index < len(b.items) or b.has_more for b in buffers.values())
    return MergedPage(items=items, total=sum(totals.values()), has_next=has_next, _departments=taken_from,
                      _positions_after=positions_after, _start=positions, _totals=totals, _encode=encode,
                      failures=failures)


def _resume(department: str, buffers: dict[str, _Buffer[Any]], start: dict[str, str | None]) -> str | None:
    buffer = buffers.get(department)
    return start.get(department) if buffer is None else buffer.resume
