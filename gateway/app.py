"""The Starlette application: ``/graphql``, ``/healthz``, ``/readyz``, JSON errors for everything else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import strawberry
from cross_web import HTTPException as WebHTTPException
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.types import ExecutionContext, ExecutionResult

from gateway.context import RequestContext
from gateway.exceptions import UpstreamError, YiwangError
from gateway.execution import FastListExecutionContext
from gateway.extensions import UpstreamErrors, shape_error, validation_rules
from gateway.fanout import call_department
from gateway.middleware import BodySizeLimit, CsrfProtection
from gateway.pagination import CursorCodec
from gateway.router import ConnectorSet
from gateway.settings import Settings, load_settings
from schema.build import build_schema

logger = logging.getLogger("yiwang")
MAX_QUERY_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 10_000
DOCUMENT_CACHE_SIZE = 512
HTTP_ERROR_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE"}


class GatewaySchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            original = error.original_error
            if original is not None and not isinstance(original, (YiwangError, GraphQLError)):
                logger.error("unexpected error at %s", error.path, exc_info=original)


def make_schema(settings: Settings) -> strawberry.Schema:
    rules = [
        *QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    if not settings.demo:
        rules.extend(DisableIntrospection().validation_rules)
    extensions: list[Any] = [
        UpstreamErrors,
        lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        validation_rules(rules),
    ]
    return build_schema(extensions, schema_class=GatewaySchema, execution_context_class=FastListExecutionContext)


class GraphQLView(GraphQL):
    def __init__(self, schema: strawberry.Schema, connectors: ConnectorSet, codec: CursorCodec, *,
                 graphiql: bool) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None, allow_queries_via_get=True)
        self.connectors = connectors
        self.codec = codec

    async def get_context(self, request: Any, response: Any) -> RequestContext:  # type: ignore[override]
        return RequestContext(self.connectors, self.codec, request)

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = [shape_error(error) for error in result.errors]
        return process_result(result)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except WebHTTPException as exc:
            response = error_response(exc.status_code, HTTP_ERROR_CODES.get(exc.status_code, "HTTP_ERROR"), exc.reason)
        await response(scope, receive, send)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, HTTP_ERROR_CODES.get(exc.status_code, "HTTP_ERROR"), str(exc.detail))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    logger.error("unexpected error on %s", request.url.path, exc_info=exc)
    return error_response(500, "INTERNAL_SERVER_ERROR", "Internal server error")


def create_app(settings: Settings | None = None, connectors: ConnectorSet | None = None) -> Starlette:
    settings = settings or load_settings()
    if connectors is None:
        from gateway.departments import build_connectors

        connectors = build_connectors(settings)
    codec = CursorCodec(settings.cursor_secret.encode())
    view = GraphQLView(make_schema(settings), connectors, codec, graphiql=settings.demo)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        departments = list(connectors)

        async def check(connector: Any) -> str | None:
            try:
                await call_department(connector, connector.check_health)
            except UpstreamError as error:
                return error.message
            return None

        problems = await asyncio.gather(*(check(c) for c in departments))
        report = {c.department_id: {"healthy": p is None, **({"problem": p} if p else {})}
                  for c, p in zip(departments, problems, strict=True)}
        healthy = sum(1 for p in problems if p is None)
        status = "ready" if healthy == len(departments) else ("degraded" if healthy else "unavailable")
        return JSONResponse({"status": status, "departments": report}, status_code=200 if healthy else 503)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await connectors.aclose()

    app = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        exception_handlers={HTTPException: http_error, Exception: unexpected_error},
        middleware=[
            Middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes),
            Middleware(CsrfProtection, enabled=settings.csrf_protection),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.connectors = connectors
    return app
