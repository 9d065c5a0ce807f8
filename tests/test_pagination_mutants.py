"""Cursors and the merged walk (gateway/pagination.py) at their edges, with departments made of plain lists: what a
cursor hides and refuses, what a filter fingerprint depends on, and how pages merge, resume, skip and fail.

The departments here page by index: the position after item i is "<department>:<i>", so every expected position is
written by hand. Calls to ``merge_walk`` go through ``walk`` alone, so a change of its signature is one place."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connectors.records import SearchPage
from gateway.exceptions import UpstreamError, UserInputError
from gateway.pagination import DONE, MAX_CURSOR_LENGTH, CursorCodec, CursorState, fingerprint, merge_walk

SECRET = b"s" * 32
KIND, FILTER = "components", "f00d"
CODEC = CursorCodec(SECRET)


def sealed(payload: Any, secret: bytes = SECRET) -> str:
    """A cursor sealed the way docs/security.md describes (AES-GCM under SHA-256 of a context and the secret), with
    any payload: what a gateway sharing the secret could issue."""
    key = hashlib.sha256(b"yiwang cursor v2" + secret).digest()
    nonce = os.urandom(12)
    raw = nonce + AESGCM(key).encrypt(nonce, orjson.dumps(payload), b"yiwang cursor v2")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def refused(cursor: str, *, kind: str = KIND, fingerprint_: str = FILTER) -> str:
    with pytest.raises(UserInputError) as error:
        CODEC.decode(cursor, kind=kind, fingerprint=fingerprint_)
    assert error.value.extensions == {"argument": "after"}
    return error.value.message


MALFORMED = "malformed cursor: pass back an endCursor or edge cursor unchanged"
FOREIGN = "malformed cursor: it was not issued by this gateway or was altered"


# --- cursors ----------------------------------------------------------------------------------------------------


def test_the_secret_must_have_sixteen_bytes() -> None:
    with pytest.raises(ValueError, match=r"^cursor secret must be at least 16 bytes$"):
        CursorCodec(b"k" * 15)
    CursorCodec(b"k" * 16)


def test_a_cursor_opens_to_the_state_it_was_made_from() -> None:
    state = CursorState(KIND, FILTER, {"water": "p:2", "gas": None, "housing": DONE}, {"water": 40, "housing": 3})
    cursor = CODEC.encode(state)
    assert CODEC.decode(cursor, kind=KIND, fingerprint=FILTER) == state
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)  # URL-safe, no padding
    assert "water" not in base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("latin-1")
    empty = CursorState(KIND, FILTER)
    assert CODEC.decode(CODEC.encode(empty), kind=KIND, fingerprint=FILTER) == empty


def test_a_cursor_opens_with_an_independently_sealed_payload() -> None:
    cursor = sealed({"v": 2, "k": KIND, "f": FILTER, "p": {"water": "x"}, "t": {"water": 5}})
    assert CODEC.decode(cursor, kind=KIND, fingerprint=FILTER) == CursorState(KIND, FILTER, {"water": "x"},
                                                                             {"water": 5})
    bare = sealed({"v": 2, "k": KIND, "f": FILTER})  # no positions or totals: an empty state
    assert CODEC.decode(bare, kind=KIND, fingerprint=FILTER) == CursorState(KIND, FILTER)


def test_equal_states_seal_alike_and_different_ones_do_not() -> None:
    one = CursorState(KIND, FILTER, {"a": "1", "b": "2"}, {"a": 1, "b": 2})
    reordered = CursorState(KIND, FILTER, {"b": "2", "a": "1"}, {"b": 2, "a": 1})
    other = CursorState(KIND, FILTER, {"a": "1", "b": "3"}, {"a": 1, "b": 2})
    assert CODEC.encode(one) == CODEC.encode(reordered)
    assert CODEC.encode(one) != CODEC.encode(other)
    nonce_of = [base64.urlsafe_b64decode(c + "=" * (-len(c) % 4))[:12] for c in map(CODEC.encode, (one, other))]
    assert nonce_of[0] != nonce_of[1]
    assert CursorCodec(b"t" * 32).encode(one) != CODEC.encode(one)


def test_a_cursor_of_another_secret_or_altered_is_refused() -> None:
    state = CursorState(KIND, FILTER, {"a": "1"}, {})
    assert refused(CursorCodec(b"t" * 32).encode(state)) == FOREIGN
    assert refused(sealed({"v": 2, "k": KIND, "f": FILTER}, secret=b"t" * 32)) == FOREIGN
    cursor = CODEC.encode(state)
    altered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    assert refused(altered) == FOREIGN


def test_a_cursor_of_another_list_or_filter_is_refused() -> None:
    cursor = CODEC.encode(CursorState(KIND, FILTER, {}, {}))
    assert refused(cursor, kind="events") == "cursor was issued for another list, not events"
    assert refused(cursor, fingerprint_="beef") == ("cursor was issued for a different filter; start again without "
                                                    "`after`")
    for payload in ([1, 2], {"v": 1, "k": KIND, "f": FILTER}, {"k": KIND, "f": FILTER}, {"v": 2, "f": FILTER}):
        assert refused(sealed(payload)) == f"cursor was issued for another list, not {KIND}", payload
    assert refused(sealed({"v": 2, "k": KIND})).startswith("cursor was issued for a different filter")


@pytest.mark.parametrize("positions, totals", [
    (["x"], {}), ({"a": 1}, {}), ({"a": ["x"]}, {}), ({}, [1]), ({}, {"a": "1"}), ({}, {"a": True}), ({}, {"a": 1.0}),
    ({"a": "x", "b": 2}, {}), ({}, {"a": 1, "b": "2"}),
])
def test_positions_must_be_text_or_null_and_totals_whole_numbers(positions: Any, totals: Any) -> None:
    assert refused(sealed({"v": 2, "k": KIND, "f": FILTER, "p": positions, "t": totals})) == MALFORMED


def test_a_cursor_that_is_not_base64_or_too_short_to_be_sealed_is_malformed() -> None:
    assert refused("a") == MALFORMED  # not a whole byte
    assert refused("ünïcode") == MALFORMED
    assert refused(base64.urlsafe_b64encode(b"n" * 12).decode()) == MALFORMED  # a nonce and nothing sealed
    assert refused(base64.urlsafe_b64encode(b"n" * 13).decode()) == FOREIGN  # something sealed, wrongly


def test_a_cursor_longer_than_the_limit_is_refused_before_it_is_opened() -> None:
    assert refused("A" * MAX_CURSOR_LENGTH) == FOREIGN  # at the limit: opened, and found foreign
    assert refused("A" * (MAX_CURSOR_LENGTH + 1)) == MALFORMED
    assert MAX_CURSOR_LENGTH == 16_384


# --- fingerprints -----------------------------------------------------------------------------------------------


def test_a_fingerprint_is_sixteen_hex_digits_of_the_filter_whatever_its_key_order() -> None:
    one = fingerprint("components", {"region": "370811", "classes": ["0101"]}, 50)
    assert re.fullmatch(r"[0-9a-f]{16}", one)
    assert one == fingerprint("components", {"classes": ["0101"], "region": "370811"}, 50)
    assert one != fingerprint("components", {"region": "370812", "classes": ["0101"]}, 50)
    assert one != fingerprint("events", {"region": "370811", "classes": ["0101"]}, 50)
    assert fingerprint(date(2026, 11, 1)) == fingerprint("2026-11-01")
    assert fingerprint(Decimal("1.50")) == fingerprint("1.50")  # values JSON lacks are read as text
    expected = hashlib.blake2b(b'["a",1]', digest_size=8).hexdigest()
    assert fingerprint("a", 1) == expected


# --- the merged walk --------------------------------------------------------------------------------------------


@dataclass
class Department:
    """Items in ascending order; at most ``cap`` per answer; ``fail`` answers with an UpstreamError."""

    name: str
    items: list[str]
    cap: int = 100
    fail: bool = False
    claims_more: bool = False  # says it has more even when it sends nothing
    calls: list[tuple[str | None, int]] = field(default_factory=list)

    def page(self, after: str | None, size: int) -> SearchPage[str] | UpstreamError:
        self.calls.append((after, size))
        if self.fail:
            return UpstreamError(self.name, "down")
        start = 0 if after is None else int(after.split(":")[1]) + 1
        items = self.items[start:start + min(size, self.cap)]
        positions = [f"{self.name}:{start + i}" for i in range(len(items))]
        more = self.claims_more or start + len(items) < len(self.items)
        return SearchPage(items=items, positions=positions, total=len(self.items), has_more=more)


@dataclass
class Walked:
    items: list[str]
    total: int
    has_next: bool
    end: CursorState | None
    cursors: list[CursorState]
    failures: list[UpstreamError]


@dataclass(frozen=True)
class Item:
    """A record as ``merge_walk`` sees it: merged by its ``id``."""

    id: str
    record: Any = None


@dataclass
class Source:
    """A ``DepartmentSource`` over a ``Department``: ``wrap`` makes each id a record, ``rule`` is its ``keep``."""

    source: Department
    rule: Any = None
    wrap: Any = None

    @property
    def department(self) -> str:
        return self.source.name

    async def page(self, after: str | None, size: int) -> SearchPage[Item] | UpstreamError:
        answer = self.source.page(after, size)
        if isinstance(answer, UpstreamError):
            return answer
        items = [Item(item, self.wrap(item) if self.wrap is not None else None) for item in answer.items]
        return SearchPage(items, answer.positions, answer.total, answer.has_more)

    def keep(self, item: Item) -> bool:
        return self.rule is None or bool(self.rule(self.department, item.id))


async def walk(departments: list[Department], first: int, start: CursorState | None = None,
               keep: Any = None, record: Any = None) -> Walked:
    """The page of ``merge_walk``; ``record`` wraps each id (the walk sorts by the id, not the record)."""
    page = await merge_walk(
        [Source(department, keep, record) for department in departments], first=first, start=start,
        encode=lambda positions, totals: CODEC.encode(CursorState(KIND, FILTER, dict(positions), dict(totals))))
    end = page.end_cursor()
    cursors = [CODEC.decode(c, kind=KIND, fingerprint=FILTER) for c in page.cursors()]
    assert page.end_cursor() == end  # the same once the edge cursors are known
    items = [item.id if record is None else item.record for item in page.items]
    return Walked(items, page.total, page.has_next,
                  None if end is None else CODEC.decode(end, kind=KIND, fingerprint=FILTER), cursors,
                  list(page.failures))


def id_of(record: Any) -> str:
    return str(record["id"])


def ids(*numbers: int) -> list[str]:
    return [f"{n:03d}" for n in numbers]


async def test_a_page_takes_the_smallest_ids_over_all_departments() -> None:
    a, b = Department("a", ids(1, 3, 5, 7)), Department("b", ids(2, 4, 6))
    page = await walk([a, b], first=4)
    assert page.items == ids(1, 2, 3, 4)
    assert (page.total, page.has_next) == (7, True)
    assert page.end is not None and page.end.positions == {"a": "a:1", "b": "b:1"}
    assert page.end.totals == {"a": 4, "b": 3}
    assert [c.positions for c in page.cursors] == [
        {"a": "a:0", "b": None}, {"a": "a:0", "b": "b:0"}, {"a": "a:1", "b": "b:0"}, {"a": "a:1", "b": "b:1"}]
    assert a.calls == [(None, 4)] and b.calls == [(None, 4)]
    assert page.failures == []


async def test_a_walk_resumes_each_department_where_the_merge_stopped_and_ends() -> None:
    a, b = Department("a", ids(1, 3, 5, 7, 8, 9)), Department("b", ids(2, 4, 6))
    seen: list[str] = []
    start: CursorState | None = None
    pages = []
    while True:
        page = await walk([a, b], first=4, start=start)
        seen += page.items
        pages.append(page)
        if not page.has_next:
            break
        start = page.end
    assert seen == ids(1, 2, 3, 4, 5, 6, 7, 8, 9)
    assert len(pages) == 3
    second = pages[1]
    assert second.items == ids(5, 6, 7, 8)
    assert second.end is not None and second.end.positions == {"a": "a:4", "b": DONE}
    assert second.total == 9
    last = pages[2]
    assert last.items == ids(9) and last.end is not None
    assert last.end.positions == {"a": DONE, "b": DONE}
    assert last.total == 9  # b, done before this page, counts from the cursor
    assert [after for after, _ in b.calls] == [None, "b:1"]  # not asked once it had nothing more
    assert [after for after, _ in a.calls] == [None, "a:1", "a:4"]


async def test_a_department_that_caps_its_page_is_asked_again_for_what_is_missing() -> None:
    a, b = Department("a", ids(1, 2, 3, 4, 5), cap=2), Department("b", ids(9))
    page = await walk([a, b], first=4)
    assert page.items == ids(1, 2, 3, 4)
    assert a.calls == [(None, 4), ("a:1", 2)]  # the second time only for the two still missing
    assert b.calls == [(None, 4)]
    assert page.end is not None and page.end.positions == {"a": "a:3", "b": None}
    assert page.has_next


async def test_one_department_longer_than_the_page_fills_it_alone() -> None:
    a = Department("a", ids(*range(1, 11)))
    page = await walk([a, Department("b", [])], first=3)
    assert page.items == ids(1, 2, 3)
    assert page.end is not None and page.end.positions == {"a": "a:2", "b": None}
    assert page.has_next and page.total == 10


async def test_runs_of_one_department_interleave_in_order() -> None:
    a, b, c = Department("a", ids(1, 2, 3, 10, 11)), Department("b", ids(4, 5, 12)), Department("c", ids(6))
    page = await walk([a, b, c], first=10)
    assert page.items == ids(1, 2, 3, 4, 5, 6, 10, 11, 12)
    assert not page.has_next
    assert page.end is not None and page.end.positions == {"a": DONE, "b": DONE, "c": DONE}


async def test_a_failed_department_keeps_its_position_and_the_page_says_more_may_come() -> None:
    a, b = Department("a", ids(1, 2)), Department("b", ids(3), fail=True)
    start = CursorState(KIND, FILTER, {"a": None, "b": "b:7"}, {})
    page = await walk([a, b], first=5, start=start)
    assert page.items == ids(1, 2)
    assert page.has_next  # only b, which failed, may have more
    assert page.end is not None and page.end.positions == {"a": DONE, "b": "b:7"}
    assert [error.department for error in page.failures] == ["b"]
    assert page.total == 2


async def test_a_department_failing_on_a_second_call_is_left_out_from_there() -> None:
    a, b = Department("a", ids(1, 2, 3, 4), cap=1), Department("b", ids(9))
    original = a.page

    def fail_second(after: str | None, size: int) -> SearchPage[str] | UpstreamError:
        return UpstreamError("a", "down") if a.calls else original(after, size)

    a.page = fail_second  # type: ignore[method-assign]
    page = await walk([a, b], first=3)
    assert page.items == ids(1, 9)
    assert len(page.failures) == 1 and page.has_next


async def test_items_refused_by_keep_are_skipped_without_losing_the_place() -> None:
    a, b = Department("a", ids(1, 2, 3, 4, 5)), Department("b", ids(6))
    page = await walk([a, b], first=2, keep=lambda department, item: item not in ids(1, 2, 4))
    assert page.items == ids(3, 5)
    assert page.end is not None and page.end.positions == {"a": DONE, "b": None}
    none_kept = await walk([Department("a", ids(1, 2), cap=2), Department("b", ids(7))], first=1,
                           keep=lambda department, item: department == "b")
    assert none_kept.items == ids(7)
    assert none_kept.end is not None and none_kept.end.positions == {"a": None, "b": DONE}


async def test_a_refill_resumes_after_items_keep_refused() -> None:
    a = Department("a", ids(1, 2, 3, 4), cap=2)
    page = await walk([a], first=2, keep=lambda department, item: item in ids(3, 4))
    assert page.items == ids(3, 4)
    assert a.calls == [(None, 2), ("a:1", 2)]


async def test_a_department_that_claims_more_but_sends_nothing_is_taken_at_its_word() -> None:
    a = Department("a", ids(1), claims_more=True)
    page = await walk([a], first=3)
    assert page.items == ids(1)
    assert a.calls == [(None, 3), ("a:0", 2), ]
    assert not page.has_next


async def test_an_empty_page_has_no_cursor_and_asks_for_at_least_one_item() -> None:
    a = Department("a", ids(1))
    page = await walk([a], first=0)
    assert page.items == [] and page.end is None and page.cursors == []
    assert a.calls == [(None, 1)]
    assert page.has_next  # the item fetched was not taken
    nothing = await walk([Department("a", [])], first=3)
    assert nothing.items == [] and nothing.end is None and not nothing.has_next and nothing.total == 0


async def test_records_merge_by_their_id() -> None:
    a, b = Department("a", ids(1, 2, 5)), Department("b", ids(3, 4))
    page = await walk([a, b], first=5, record=lambda item: {"id": item, "name": f"#{item}"})
    assert [id_of(item) for item in page.items] == ids(1, 2, 3, 4, 5)


async def test_a_failure_of_the_first_department_asked_does_not_hide_the_others() -> None:
    down, a, b = Department("0-down", ids(1), fail=True), Department("a", ids(2, 4)), Department("b", ids(3))
    page = await walk([down, a, b], first=3)
    assert page.items == ids(2, 3, 4)
    assert [error.department for error in page.failures] == ["0-down"]


async def test_a_finished_department_without_a_total_in_the_cursor_counts_none() -> None:
    start = CursorState(KIND, FILTER, {"a": DONE, "b": None}, {})
    page = await walk([Department("a", ids(1)), Department("b", ids(2, 3))], first=1, start=start)
    assert page.items == ids(2) and page.total == 2


def test_every_cursor_opens_whatever_its_last_characters() -> None:
    states = [CursorState(KIND, FILTER, {"a": f"a:{n}"}, {"a": n}) for n in range(300)]
    for state in states:
        assert CODEC.decode(CODEC.encode(state), kind=KIND, fingerprint=FILTER) == state
