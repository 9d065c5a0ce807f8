"""connectors.concurrency.gather: when one call fails, the others are cancelled before the failure goes on, so no
department call outlives the answer it was for."""

from __future__ import annotations

import asyncio

import pytest

from connectors.concurrency import gather


async def test_a_failing_call_cancels_its_siblings_before_raising() -> None:
    seen: list[str] = []
    running = 0
    both_running = asyncio.Event()

    async def never_answers() -> str:
        nonlocal running
        running += 1
        if running == 2:
            both_running.set()
        try:
            await asyncio.Event().wait()  # only a cancellation ends it
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return "never"

    async def failing() -> str:
        await both_running.wait()  # fails while its siblings are still waiting
        raise ValueError("department refused")

    with pytest.raises(ValueError, match="department refused"):
        await gather(never_answers(), never_answers(), failing())
    assert seen == ["cancelled", "cancelled"]  # already cancelled and finished when the error arrives


async def test_results_keep_their_order() -> None:
    """The calls finish in the order 2, 3, 1 (each releases the next), and the results still come in call order."""
    finished: list[int] = []
    released = {value: asyncio.Event() for value in (1, 2, 3)}
    next_of = {2: 3, 3: 1}

    async def when_released(value: int) -> int:
        await released[value].wait()
        finished.append(value)
        if value in next_of:
            released[next_of[value]].set()
        return value

    async def at_once(value: int) -> int:
        return value

    released[2].set()
    assert await gather(when_released(1), when_released(2), when_released(3)) == [1, 2, 3]
    assert finished == [2, 3, 1]
    assert await gather(at_once(7)) == [7]
