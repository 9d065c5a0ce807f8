"""The admin API under ``/admin/connectors`` (OpenAPI at ``/admin/connectors/openapi.json``): for a platform_admin,
or a department_operator whose ``departments`` claim names the department. Secrets are never in an answer.

Every change (register, update, test, rollback, disable, enable) also needs authority over the regions involved: those
of the spec submitted or rolled back to and those the department's current version serves must all lie inside the
caller's region scope, so a district's operator cannot take over, or switch off, the service of a neighbour."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.spec.dryrun import dry_run
from connectors.spec.model import ConnectorSpec, OAuth2ClientCredentials, spec_json_schema, validate_spec
from connectors.spec.problems import SpecInvalid
from gateway.auth.principal import Principal, Role
from gateway.exceptions import AuthenticationError, ConfigurationError
from gateway.registry.allowlist import ForbiddenUrl
from gateway.registry.openapi import openapi_document
from gateway.registry.store import NotFound, describe

if TYPE_CHECKING:
    from gateway.registry.source import RegistrySource

logger = logging.getLogger("yiwang.registry")
PREFIX = "/admin/connectors"
Handler = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def _error(exc: ApiError) -> JSONResponse:
    extensions: dict[str, Any] = {"code": exc.code}
    if exc.details is not None:
        extensions["details"] = exc.details
    return JSONResponse({"errors": [{"message": exc.message, "extensions": extensions}]}, status_code=exc.status)


def may_manage(principal: Principal, department: str | None) -> bool:
    if principal.has_role(Role.PLATFORM_ADMIN):
        return True
    if not principal.has_role(Role.DEPARTMENT_OPERATOR):
        return False
    return department is None or (principal.departments is not None and department in principal.departments)


def regions_outside(principal: Principal, regions: list[str]) -> list[str]:
    return [region for region in regions if not principal.covers(region)]


def authorize_regions(principal: Principal, regions: list[str], what: str) -> None:
    """FORBIDDEN naming the first region of ``what`` outside the principal's scope."""
    outside = regions_outside(principal, regions)
    if outside:
        scope = "the whole country" if not principal.region_prefix else f"region {principal.region_code}"
        raise ApiError(403, "FORBIDDEN", f"{what} serves region {outside[0]}, outside your scope ({scope}): a "
                                         f"connector may only be managed for regions inside the caller's scope",
                       {"regions": outside, "scope": principal.region_code})


async def _spec_from(request: Request) -> ConnectorSpec:
    body = await request.body()
    try:
        data = (yaml.safe_load(body) if "yaml" in request.headers.get("content-type", "")
                else orjson.loads(body))
    except (yaml.YAMLError, orjson.JSONDecodeError) as exc:
        raise ApiError(400, "BAD_REQUEST", f"the body is not a spec document: {exc}") from exc
    try:
        return validate_spec(data)
    except SpecInvalid as exc:
        raise ApiError(400, "BAD_USER_INPUT", str(exc), [problem.as_dict() for problem in exc.problems]) from None


def admin_routes(registry: RegistrySource) -> list[BaseRoute]:
    def store() -> Any:
        if registry.store is None:
            raise ApiError(503, "UNAVAILABLE", "the connector registry is not running")
        return registry.store

    async def principal_of(request: Request, department: str | None) -> Principal:
        authenticator = request.app.state.authenticator
        try:
            principal: Principal = await authenticator.authenticate(request.headers.get("authorization"))
        except AuthenticationError as exc:
            raise ApiError(401, exc.code, exc.message) from exc
        if principal.is_public:
            raise ApiError(401, "UNAUTHENTICATED", "sign in to manage connectors")
        if not may_manage(principal, department):
            what = f"department {department!r}" if department else "connectors"
            raise ApiError(403, "FORBIDDEN", f"managing {what} needs platform_admin, or department_operator with "
                                             f"the department in the departments claim")
        return principal

    async def authorize_current(principal: Principal, department: str) -> None:
        """The department's current version, if any, must serve only regions inside the principal's scope."""
        row = await asyncio.to_thread(store().latest, department)
        if row is not None:
            spec = await asyncio.to_thread(store().spec_of, row)
            authorize_regions(principal, spec.regions, f"the current {department} connector (version {row.version})")

    async def vet_urls(spec: ConnectorSpec) -> None:
        for url in spec_urls(spec):
            await registry.allowlist.vet(url)

    def endpoint(handler: Callable[[Request], Awaitable[Any]]) -> Handler:
        async def wrapped(request: Request) -> Response:
            try:
                result = await handler(request)
            except ApiError as exc:
                return _error(exc)
            except NotFound as exc:
                return _error(ApiError(404, "NOT_FOUND", f"no registered connector {exc}"))
            except ForbiddenUrl as exc:
                return _error(ApiError(400, "FORBIDDEN_URL", str(exc), {"reason": exc.reason}))
            except ConfigurationError as exc:
                return _error(ApiError(400, "CONFIGURATION", exc.message))
            return result if isinstance(result, Response) else JSONResponse(result)

        return wrapped

    async def listing(request: Request) -> Any:
        principal = await principal_of(request, None)
        rows = await asyncio.to_thread(store().current)
        active = {c.department_id: type(c).__name__ for c in registry.serving()}
        registered = [{**_summary(row), "active": active.get(row.department, "").startswith("SpecConnector_")}
                      for row in rows if may_manage(principal, row.department)]
        code = [{"department": department, "kind": "code", "class": cls,
                 "active": not cls.startswith("SpecConnector_")} for department, cls in sorted(active.items())
                if not cls.startswith("SpecConnector_")]
        return {"registered": registered, "code": code}

    async def register(request: Request) -> Any:
        spec = await _spec_from(request)
        principal = await principal_of(request, spec.department)
        authorize_regions(principal, spec.regions, "this spec")
        await authorize_current(principal, spec.department)
        await vet_urls(spec)
        row = await asyncio.to_thread(store().register, spec, principal.subject)
        await registry.reload()
        logger.info("connector %s version %d registered by %s", row.department, row.version, row.author)
        return JSONResponse(describe(row), status_code=201)

    async def test(request: Request) -> Any:
        spec = await _spec_from(request)
        principal = await principal_of(request, spec.department)
        authorize_regions(principal, spec.regions, "this spec")
        await vet_urls(spec)
        connector = registry.make_connector(spec)
        try:
            report = await dry_run(connector)
        finally:
            await connector.aclose()
        return report.as_dict()

    async def show(request: Request) -> Any:
        department = request.path_params["department"]
        await principal_of(request, department)
        row = await asyncio.to_thread(store().latest, department)
        if row is None:
            raise NotFound(department)
        return describe(row)

    async def history(request: Request) -> Any:
        department = request.path_params["department"]
        await principal_of(request, department)
        rows = await asyncio.to_thread(store().history, department)
        return {"department": department, "versions": [{k: v for k, v in describe(row).items() if k != "spec"}
                                                       for row in rows]}

    async def rollback(request: Request) -> Any:
        department = request.path_params["department"]
        principal = await principal_of(request, department)
        try:
            version = int(orjson.loads(await request.body())["version"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ApiError(400, "BAD_REQUEST", 'the body must be {"version": N}') from exc
        rows = await asyncio.to_thread(store().history, department)
        target = next((row for row in rows if row.version == version), None)
        if target is not None:
            spec = await asyncio.to_thread(store().spec_of, target)
            authorize_regions(principal, spec.regions, f"{department} version {version}")
        await authorize_current(principal, department)
        row = await asyncio.to_thread(store().rollback, department, version, principal.subject)
        await registry.reload()
        return describe(row)

    def switch(enabled: bool) -> Callable[[Request], Awaitable[Any]]:
        async def handler(request: Request) -> Any:
            department = request.path_params["department"]
            principal = await principal_of(request, department)
            await authorize_current(principal, department)
            row = await asyncio.to_thread(store().set_enabled, department, enabled, principal.subject)
            await registry.reload()
            return describe(row)

        return handler

    async def openapi(request: Request) -> Any:
        return openapi_document()

    async def schema(request: Request) -> Any:
        return spec_json_schema()

    return [
        Route(PREFIX, endpoint(listing), methods=["GET"]),
        Route(PREFIX, endpoint(register), methods=["POST"]),
        Route(f"{PREFIX}/openapi.json", endpoint(openapi), methods=["GET"]),
        Route(f"{PREFIX}/spec-schema.json", endpoint(schema), methods=["GET"]),
        Route(f"{PREFIX}/test", endpoint(test), methods=["POST"]),
        Route(PREFIX + "/{department}", endpoint(show), methods=["GET"]),
        Route(PREFIX + "/{department}/history", endpoint(history), methods=["GET"]),
        Route(PREFIX + "/{department}/rollback", endpoint(rollback), methods=["POST"]),
        Route(PREFIX + "/{department}/disable", endpoint(switch(False)), methods=["POST"]),
        Route(PREFIX + "/{department}/enable", endpoint(switch(True)), methods=["POST"]),
    ]


def spec_urls(spec: ConnectorSpec) -> list[str]:
    """The URLs a spec makes its connector call: base_url, and each token URL or operation path that is absolute
    (an unreadable one too, so that it is refused here rather than at the first request)."""
    operations = spec.operations
    paths = [operation.path for operation in (operations.search_components, operations.get_components,
                                              operations.health) if operation is not None]
    if isinstance(spec.auth, OAuth2ClientCredentials):
        paths.append(spec.auth.token_url)
    urls = [spec.base_url]
    for path in paths:
        try:
            absolute = httpx.URL(path).is_absolute_url
        except httpx.InvalidURL:
            absolute = True
        if absolute and path not in urls:
            urls.append(path)
    return urls


def _summary(row: Any) -> dict[str, Any]:
    return {"department": row.department, "kind": "spec", "version": row.version, "enabled": row.enabled,
            "author": row.author, "created_at": row.created_at.isoformat(), "action": row.action}
