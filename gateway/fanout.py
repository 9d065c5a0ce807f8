"""Calling departments: each call under its connector's own timeout, every failure an ``UpstreamError``, and the
failures of one request collected once per department so the response reports them next to the other data.

Callers see an ``UpstreamError``'s generic ``message`` only (errors[], ``departments { problem }``, ``/readyz``);
``call_department`` names the department in it, and the ``detail`` goes to the log and the trace: the telemetry
plugin's ``department.fetch`` span for calls, ``report_field_failures`` for a record's field that fails later."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from opentelemetry import trace
from strawberry.extensions import SchemaExtension

from connectors.calls import perform
from connectors.http import describe_failure
from connectors.spec.connector import DepartmentSkipped
from gateway.exceptions import UpstreamBadResponse, UpstreamError, UpstreamTimeout, UserInputError
from gateway.plugins import Plugin, UpstreamFetch, chain_fetch
from gateway.telemetry.failures import record_upstream_error

if TYPE_CHECKING:
    from graphql import GraphQLError

    from connectors.base import Connector

logger = logging.getLogger("yiwang.upstream")
ResultT = TypeVar("ResultT")


async def call_department(fetch: UpstreamFetch[ResultT], plugins: Sequence[Plugin] = ()) -> ResultT:
    """Make one department call through the plugins; every failure is an ``UpstreamError``."""
    connector = fetch.connector

    async def terminal() -> ResultT:
        department = connector.department_id
        answer = perform(connector, fetch.call)  # a call type it does not know is refused here, as a bug
        try:
            async with asyncio.timeout(connector.timeout_s):
                return await answer
        except UpstreamError as error:
            named(error, connector)
            raise
        except TimeoutError as exc:
            raise named(UpstreamTimeout(department, f"{department}: no answer within {connector.timeout_s:g} s"),
                        connector) from exc
        except (UserInputError, NotImplementedError, DepartmentSkipped):
            raise
        except Exception as exc:
            # A connector bug or a dialect surprise the connector did not foresee: the department's answer could
            # not be used. Report it as such to the client and keep the details in the log only.
            logger.exception("connector %s failed unexpectedly", department)
            raise named(UpstreamBadResponse(department, f"{department}: the answer could not be processed: "
                                                        f"{describe_failure(exc)}"), connector) from exc

    return await chain_fetch(plugins, fetch, terminal)


def named(error: UpstreamError, connector: Connector | None) -> UpstreamError:
    """``error`` with its department's name in the caller's message, when ``connector`` is that department's."""
    if connector is not None and error.department == connector.department_id and error.department_name is None:
        error.name_department(connector.department_name)
    return error


@dataclass(slots=True)
class UpstreamFailure:
    error: UpstreamError
    path: list[str | int] | None


@dataclass(slots=True)
class Partial(Generic[ResultT]):
    """An answer gathered from several departments, and the failures of those missing from it; the resolver records
    the failures at its path (``gateway.context.reported``)."""

    value: ResultT
    failures: list[UpstreamError]


class UpstreamFailures:
    """The failed departments of one request, the first failure of each with the path where it surfaced."""

    def __init__(self) -> None:
        self.by_department: dict[str, UpstreamFailure] = {}
        self.skipped: dict[str, str] = {}  # department → why it was left out (extensions.skipped), not an error

    def skip(self, skipped: DepartmentSkipped) -> None:
        self.skipped.setdefault(skipped.department, skipped.reason)

    def record(self, error: UpstreamError, path: Sequence[str | int] | None) -> None:
        if error.department not in self.by_department:
            self.by_department[error.department] = UpstreamFailure(error, list(path) if path is not None else None)

    def __bool__(self) -> bool:  # an answer with a department missing is not cached whole
        return bool(self.by_department or self.skipped)


class SkippedDepartments(SchemaExtension):
    """``extensions.skipped``: the departments left out of the answer, and why (``DepartmentSkipped``)."""

    def get_results(self) -> dict[str, Any]:
        failures = getattr(self.execution_context.context, "failures", None)
        if not isinstance(failures, UpstreamFailures) or not failures.skipped:
            return {}
        return {"skipped": [{"department": department, "reason": reason}
                            for department, reason in sorted(failures.skipped.items())]}


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
    calls = [asyncio.ensure_future(one(fetch)) for fetch in fetches]
    try:
        return list(await asyncio.gather(*calls))
    except BaseException:
        # A caller's error (or a cancellation) in one call: the others are cancelled and awaited here, so none
        # outlives the request (a department call whose span ends after its trace) and each is marked cancelled.
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        raise


async def health_problem(fetch: UpstreamFetch, plugins: Sequence[Plugin] = ()) -> str | None:
    """None when the department answers its health check, else the reason callers may see (the code's generic
    message); the detail is logged — by the telemetry plugin when there are plugins, here otherwise (``/readyz``)."""
    try:
        await call_department(fetch, plugins)
    except UpstreamError as error:
        if not plugins:
            logger.warning("department %s is not ready: %s [%s]", fetch.department, error.detail, error.cause_name(),
                           extra={"department": fetch.department, "code": error.code})
        return error.message
    return None


def report_field_failures(errors: Sequence[GraphQLError], context: Any) -> None:
    """Field errors raised by a department's record after its call ended (a deferred field that does not translate):
    name the department in the caller's message, log the detail once per department, and add it to the current
    span (``graphql.execute``). Other errors are left alone."""
    failures: dict[str, list[tuple[UpstreamError, Any]]] = {}
    for error in errors:
        original = error.original_error
        if isinstance(original, UpstreamError):
            failures.setdefault(original.department, []).append((original, error.path))
    if not failures:
        return
    connectors = getattr(context, "connectors", None)
    span = trace.get_current_span()
    for department, found in failures.items():
        connector = connectors.get(department) if connectors is not None else None
        for failure, _ in found:
            named(failure, connector)
        first, path = found[0]
        record_upstream_error(span, first, path, count=len(found))
        logger.warning("department %s: %d field(s) failed, the first at %s: %s [%s]", department, len(found),
                       ".".join(map(str, path or ())), first.detail, first.cause_name(),
                       extra={"department": department, "code": first.code})


def path_of(info: Any) -> list[str | int]:
    return list(info.path.as_list()) if info is not None else []
