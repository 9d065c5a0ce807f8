"""Calling departments: each call under its connector's own timeout, every failure an ``UpstreamError``, and the
failures of one request collected once per department so the response reports them next to the other data."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.exceptions import UpstreamBadResponse, UpstreamError, UpstreamTimeout, UserInputError
from gateway.plugins import Plugin, UpstreamFetch, chain_fetch

logger = logging.getLogger("yiwang.upstream")


async def call_department(fetch: UpstreamFetch, plugins: Sequence[Plugin] = ()) -> Any:
    """Make one department call through the plugins; every failure is an ``UpstreamError``."""
    connector = fetch.connector

    async def terminal() -> Any:
        department = connector.department_id
        method = getattr(connector, fetch.operation)
        try:
            async with asyncio.timeout(connector.timeout_s):
                return await method(*fetch.args)
        except UpstreamError:
            raise
        except TimeoutError as exc:
            raise UpstreamTimeout(department, f"{department}: no answer within {connector.timeout_s:g} s") from exc
        except (UserInputError, NotImplementedError):
            raise
        except Exception as exc:
            # A connector bug or a dialect surprise the connector did not foresee: the department's answer could
            # not be used. Report it as such to the client and keep the details in the log only.
            logger.exception("connector %s failed unexpectedly", department)
            raise UpstreamBadResponse(department, f"{department}: the answer could not be processed") from exc

    return await chain_fetch(plugins, fetch, terminal)


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


async def gather_departments(fetches: Sequence[UpstreamFetch], plugins: Sequence[Plugin] = (),
                             ) -> list[Any | UpstreamError]:
    """Run the calls concurrently; each result is the value or the department's ``UpstreamError``."""

    async def one(fetch: UpstreamFetch) -> Any:
        try:
            return await call_department(fetch, plugins)
        except UpstreamError as error:
            return error

    if len(fetches) == 1:
        return [await one(fetches[0])]
    return list(await asyncio.gather(*(one(fetch) for fetch in fetches)))


async def health_problem(fetch: UpstreamFetch, plugins: Sequence[Plugin] = ()) -> str | None:
    """None when the department answers its health check, else the reason."""
    try:
        await call_department(fetch, plugins)
    except UpstreamError as error:
        return error.message
    return None


def path_of(info: Any) -> list[str | int]:
    return list(info.path.as_list()) if info is not None else []
