"""Calling departments: each call under its connector's own timeout, every failure an ``UpstreamError``, and the
failures of one request collected once per department so the response reports them next to the other data."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from connectors.base import Connector
from gateway.exceptions import UpstreamBadResponse, UpstreamError, UpstreamTimeout

logger = logging.getLogger("yiwang.upstream")
ResultT = TypeVar("ResultT")


async def call_department(connector: Connector, operation: Callable[[], Awaitable[ResultT]]) -> ResultT:
    department = connector.department_id
    try:
        async with asyncio.timeout(connector.timeout_s):
            return await operation()
    except UpstreamError:
        raise
    except TimeoutError as exc:
        raise UpstreamTimeout(department, f"{department}: no answer within {connector.timeout_s:g} s") from exc
    except Exception as exc:
        # A connector bug or a dialect surprise the connector did not foresee: the department's answer could not
        # be used. Report it as such to the client and keep the details in the log only.
        logger.exception("connector %s failed unexpectedly", department)
        raise UpstreamBadResponse(department, f"{department}: the answer could not be processed") from exc


@dataclass(slots=True)
class UpstreamFailure:
    error: UpstreamError
    path: list[str | int] | None


class UpstreamFailures:
    """The failed departments of one request, the first failure of each with the path where it surfaced."""

    def __init__(self) -> None:
        self.by_department: dict[str, UpstreamFailure] = {}

    def record(self, error: UpstreamError, path: Sequence[str | int] | None) -> None:
        if error.department not in self.by_department:
            self.by_department[error.department] = UpstreamFailure(error, list(path) if path is not None else None)

    def __bool__(self) -> bool:
        return bool(self.by_department)


async def gather_departments(
    calls: Sequence[tuple[Connector, Callable[[], Awaitable[ResultT]]]],
) -> list[ResultT | UpstreamError]:
    """Run the calls concurrently; each result is the value or the department's ``UpstreamError``."""

    async def one(connector: Connector, operation: Callable[[], Awaitable[ResultT]]) -> ResultT | UpstreamError:
        try:
            return await call_department(connector, operation)
        except UpstreamError as error:
            return error

    if len(calls) == 1:
        return [await one(*calls[0])]
    return list(await asyncio.gather(*(one(c, op) for c, op in calls)))


def path_of(info: Any) -> list[str | int]:
    return list(info.path.as_list()) if info is not None else []
