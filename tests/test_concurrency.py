"""connectors.concurrency.gather: when one call fails, the others are cancelled before the failure goes on, so no
department call outlives the answer it was for."""

from __future__ import annotations

import asyncio

import pytest

from connectors.concurrency import gather


async def test_a_failing_call_cancels_its_siblings_before_raising() -> None:
    seen: list[str] = []

    async def slow() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return "slow"

    async def failing() -> str:
        await asyncio.sleep(0.01)
        raise ValueError("department refused")

    with pytest.raises(ValueError, match="department refused"):
        await gather(slow(), slow(), failing())
    assert seen == ["cancelled", "cancelled"]  # already cancelled and finished when the error arrives


async def test_results_keep_their_order() -> None:
    async def after(delay: float, value: int) -> int:
        await asyncio.sleep(delay)
        return value

    assert await gather(after(0.02, 1), after(0.0, 2), after(0.01, 3)) == [1, 2, 3]
    assert await gather(after(0, 7)) == [7]
