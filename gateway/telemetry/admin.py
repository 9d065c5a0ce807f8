"""``/admin/traces`` (recent traces, filtered), ``/admin/traces/{traceId}`` (one trace's spans) as JSON, and the trace
page at ``/admin/tracing``.

The JSON is for ``platform_admin`` only, except in demo mode (like GraphiQL). The page itself is static HTML/JS with
no data in it: it asks the JSON endpoints with the bearer token typed into it or given in the URL fragment
(``/admin/tracing#token=…``), which never reaches a server log.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.auth.principal import Role
from gateway.exceptions import AuthenticationError, ForbiddenError, NotFoundError, UserInputError, YiwangError
from gateway.telemetry.store import TraceStore, matches

DEFAULT_LIST_LIMIT = 50
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
SORTS = ("recent", "slowest")
Endpoint = Callable[[Request], Awaitable[Response]]


def trace_routes(store: TraceStore) -> list[BaseRoute]:
    async def list_traces(request: Request) -> Response:
        await _require_admin(request)
        params = request.query_params
        min_duration = _number(params.get("minDurationMs"), "minDurationMs")
        limit = int(_number(params.get("limit"), "limit") or DEFAULT_LIST_LIMIT)
        sort = params.get("sort", "recent")
        if sort not in SORTS:
            raise UserInputError(f"sort must be one of {', '.join(SORTS)}", argument="sort")
        summaries = [trace.summary() for trace in store.traces()]
        found = [s for s in summaries if matches(s, operation=params.get("operation"),
                                                 department=params.get("department"), min_duration_ms=min_duration,
                                                 errors_only=params.get("errors", "").lower() in ("1", "true", "yes"))]
        if sort == "slowest":
            found.sort(key=lambda s: s["durationMs"], reverse=True)
        return JSONResponse({"traces": found[:max(limit, 0)], "matched": len(found), "stored": len(store),
                             "capacity": store.max_traces})

    async def one_trace(request: Request) -> Response:
        await _require_admin(request)
        trace_id: str = request.path_params["trace_id"].lower()
        if not TRACE_ID.match(trace_id):
            raise UserInputError("a trace id is 32 hexadecimal digits", argument="traceId")
        stored = store.get(int(trace_id, 16))
        if stored is None:
            raise NotFoundError(f"trace {trace_id} is not (or no longer) in the store of the last "
                                f"{store.max_traces} traces")
        return JSONResponse(stored.detail())

    async def page(request: Request) -> Response:
        return HTMLResponse(_page_html(), headers={"cache-control": "no-store"})

    return [
        Route("/admin/traces", _json_errors(list_traces)),
        Route("/admin/traces/{trace_id}", _json_errors(one_trace)),
        Route("/admin/tracing", page),
    ]


async def _require_admin(request: Request) -> None:
    if request.app.state.settings.demo:
        return
    principal = await request.app.state.authenticator.authenticate(request.headers.get("authorization"))
    if not principal.has_role(Role.PLATFORM_ADMIN):
        raise ForbiddenError("traces are for platform_admin only")


def _json_errors(endpoint: Endpoint) -> Endpoint:
    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except YiwangError as error:
            response = JSONResponse({"errors": [{"message": error.message, "extensions": error.to_extensions()}]},
                                    status_code=error.http_status)
            if isinstance(error, AuthenticationError):
                response.headers["www-authenticate"] = 'Bearer realm="yiwang"'
            return response

    return guarded


def _number(value: str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value) if value.isascii() else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise UserInputError(f"{name} must be a finite number", argument=name)
    if number < 0:
        raise UserInputError(f"{name} must not be negative", argument=name)
    return number


@cache
def _page_html() -> str:
    return resources.files("gateway.telemetry").joinpath("static/traces.html").read_text(encoding="utf-8")
