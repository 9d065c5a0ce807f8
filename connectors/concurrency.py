"""Concurrent calls without the cost of a task when there is only one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


async def gather(*awaitables: Awaitable[T]) -> list[T]:
    """``asyncio.gather``, except that a single awaitable is awaited in place: most department calls are one page,
    and a task per call (created, scheduled, its context copied) is a measurable share of a small request. When one
    raises, the others are cancelled and awaited before the exception goes on."""
    if len(awaitables) == 1:
        return [await awaitables[0]]
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        results: list[Any] = await asyncio.gather(*tasks)
    except BaseException:
        # asyncio.gather leaves the other calls running when one raises: nothing may outlive the request's answer.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return results
