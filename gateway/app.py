"""The Starlette application: ``/graphql``, ``/healthz``, ``/readyz``, JSON errors for everything else."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
import strawberry
from cross_web import AsyncHTTPRequestAdapter
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
from strawberry.extensions import MaxTokensLimiter, ParserCache
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult

from connectors.calls import CHECK_HEALTH
from gateway.auth.authenticator import Authenticator
from gateway.auth.config import AuthConfig, load_auth_config
from gateway.auth.demo import DEMO_ISSUER, demo_issuer_config
from gateway.auth.policy import Access, Policy, load_policy
from gateway.cache.plugin import CachePlugin
from gateway.context import RequestContext
from gateway.cost import show_list_sizes
from gateway.declared_schema import DeclaredTypesSchema
from gateway.departments import fetch_hooks
from gateway.exceptions import (
    AuthenticationError,
    MalformedRequest,
    NotAcceptable,
    UnsupportedMediaType,
    YiwangError,
)
from gateway.extensions import (
    INTERNAL_ERROR_MESSAGE,
    RequestedOperationSchema,
    UpstreamErrors,
    checked_operations,
    shape_error,
)
from gateway.fanout import SkippedDepartments, health_problem, report_field_failures
from gateway.fastpaths import configure_fast_paths, execution_context_class
from gateway.graphiql import graphiql_page, graphiql_routes, may_use_graphiql
from gateway.graphql_http import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    OBJECT_FIELDS,
    REQUEST_ERROR_STATUS,
    is_request_error,
    request_data,
    response_media_type,
    without_data,
)
from gateway.limits import AliasLimit, CostLimit, DepthLimit, OperationLimits
from gateway.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from gateway.metrics import MetricsRegistry
from gateway.middleware import BodySizeLimit, CrossOriginAccess, CsrfProtection
from gateway.pagination import CursorCodec
from gateway.plugins import Plugin, UpstreamFetch
from gateway.registry.source import RegistrySource
from gateway.router import ConnectorSet
from gateway.settings import Settings, load_settings
from gateway.sources import ConnectorSource, ConnectorSources, StaticConnectors
from gateway.suggestions import hiding_suggestions
from gateway.telemetry.plugin import TelemetryPlugin
from schema.build import build_schema

logger = logging.getLogger("yiwang")
MAX_QUERY_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 10_000
DOCUMENT_CACHE_SIZE = 512
HTTP_ERROR_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE"}


class GatewaySchema(RequestedOperationSchema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        report_field_failures(errors, execution_context.context if execution_context is not None else None)
        for error in errors:
            original = error.original_error
            if original is not None and not isinstance(original, (YiwangError, GraphQLError)):
                logger.error("unexpected error at %s", error.path, exc_info=original)


def make_schema(settings: Settings, policy: Policy, plugins: Sequence[Plugin] = (),
                extra_types: Sequence[type[Any]] = ()) -> strawberry.Schema:
    """``extra_types``: component types declared by registered connector specs (schema/declared.py)."""
    limits = OperationLimits(DepthLimit(MAX_QUERY_DEPTH), AliasLimit(MAX_ALIASES),
                             CostLimit(settings.max_cost, settings.cost_limits), DOCUMENT_CACHE_SIZE)
    extensions: list[Any] = [
        UpstreamErrors,
        SkippedDepartments,
        lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        checked_operations(limits, introspection="all" if settings.demo else "admins",
                           hide_suggestions=not settings.demo, documents_kept=DOCUMENT_CACHE_SIZE),
        *(extension for plugin in plugins for extension in plugin.schema_extensions()),
    ]
    executor = execution_context_class(settings)
    executor = executor if settings.demo else hiding_suggestions(executor)
    schema = build_schema(extensions, schema_class=GatewaySchema, execution_context_class=executor, policy=policy,
                          config=StrawberryConfig(disable_field_suggestions=not settings.demo),
                          extra_types=extra_types)
    show_list_sizes(schema._schema, limits.model(schema._schema))  # the model the limits will use
    return schema


def auth_config(settings: Settings) -> AuthConfig:
    config = load_auth_config(settings.auth_config_path) if settings.auth_config_path else AuthConfig()
    updates: dict[str, Any] = {}
    if settings.demo or settings.trust_demo_issuer:
        issuers = [i for i in config.issuers if i.issuer != DEMO_ISSUER]
        updates["issuers"] = (*issuers, demo_issuer_config())
    anonymous = settings.anonymous or ("public" if settings.demo else None)
    if anonymous is not None:
        updates["anonymous"] = anonymous
    return config.model_copy(update=updates) if updates else config


class GraphQLView(GraphQL):
    def __init__(self, schema: strawberry.Schema, connectors: ConnectorSources, codec: CursorCodec, *,
                 authenticator: Authenticator, policy: Policy, demo: bool, plugins: Sequence[Plugin] = ()) -> None:
        super().__init__(schema, graphql_ide="graphiql", allow_queries_via_get=True)
        self.connectors = connectors
        self.codec = codec
        self.authenticator = authenticator
        self.policy = policy
        self.demo = demo
        self.plugins = tuple(plugins)

    async def get_context(self, request: Any, response: Any) -> RequestContext:  # type: ignore[override]
        principal = await self.authenticator.authenticate(request.headers.get("authorization"))
        request.state.principal = principal
        return RequestContext(self.connectors.current, self.codec, request, Access(principal, self.policy),
                              self.plugins)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL (gateway/graphiql.py, its assets served here): in the demo for everyone; in production only for
        a platform_admin."""
        if may_use_graphiql(self.demo, getattr(request.state, "principal", None)):
            return graphiql_page().response()
        return error_response(404, "NOT_FOUND", "Not Found")

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:  # type: ignore[override]
        """strawberry's, with every field's JSON type checked (gateway/graphql_http.py) and no batches."""
        if response_media_type(request.headers.get("accept")) is None:
            raise NotAcceptable(f"this endpoint answers in {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}; "
                                "send an Accept header that allows one of them")
        if request.method == "GET":
            parameters: dict[str, Any] = dict(request.query_params)
            for name in OBJECT_FIELDS:
                if parameters.get(name) == "":
                    del parameters[name]
                elif name in parameters:
                    parameters[name] = self.parse_json(parameters[name])
            return request_data(parameters, from_query_string=True)
        media_type, _, parameters_text = (request.content_type or "").partition(";")
        charset = parameters_text.strip().lower().removeprefix("charset=").strip('"') if parameters_text else ""
        if media_type.strip().lower() != APPLICATION_JSON or charset not in ("", "utf-8", "utf8"):
            raise UnsupportedMediaType(f"send the request as {APPLICATION_JSON} (UTF-8)")
        body = await request.get_body()
        if not body.strip():
            raise MalformedRequest("the request has no body: send a JSON object with a `query`")
        return request_data(self.parse_json(body))

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = [shape_error(error) for error in result.errors]
        response = process_result(result)
        if is_request_error(response):
            request.state.graphql_request_error = True
            return without_data(response)
        return response

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        """orjson: invalid UTF-8 and nesting past its depth limit are JSONDecodeErrors (400), not a crash."""
        return orjson.loads(data)

    async def get_sub_response(self, request: Any) -> Response:
        """strawberry's, without its MutableHeaders round trip: no status, no headers, no background task."""
        sub_response = Response.__new__(Response)
        sub_response.status_code = None  # type: ignore[assignment]
        sub_response.raw_headers = []
        sub_response.background = None
        return sub_response

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """strawberry's: the JSON answer with what resolvers set on the sub-response (status, headers, background)."""
        response = Response(self.encode_json(response_data), status_code=sub_response.status_code or 200,
                            media_type="application/json")
        if sub_response.raw_headers:
            response.raw_headers.extend(sub_response.raw_headers)
        if sub_response.background:
            response.background = sub_response.background
        return response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except WebHTTPException as exc:
            response = error_response(exc.status_code, HTTP_ERROR_CODES.get(exc.status_code, "HTTP_ERROR"), exc.reason)
        except AuthenticationError as exc:
            response = error_response(exc.http_status, exc.code, exc.message)
            response.headers["www-authenticate"] = 'Bearer realm="yiwang"'
        except YiwangError as exc:
            response = error_response(exc.http_status, exc.code, exc.message, exc.to_extensions())
        except Exception as exc:  # a bug must not drop the connection or leak its text: log it, answer JSON 500
            logger.error("unexpected error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            response = error_response(500, "INTERNAL_SERVER_ERROR", INTERNAL_ERROR_MESSAGE)
        media_type = response_media_type(request.headers.get("accept"))
        if media_type == GRAPHQL_RESPONSE_JSON and response.media_type != "text/html":
            response.headers["content-type"] = GRAPHQL_RESPONSE_JSON
            if getattr(request.state, "graphql_request_error", False):
                response.status_code = REQUEST_ERROR_STATUS
        await response(scope, receive, send)


def error_response(status: int, code: str, message: str, extensions: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": extensions or {"code": code}}]},
                        status_code=status)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, HTTP_ERROR_CODES.get(exc.status_code, "HTTP_ERROR"), str(exc.detail))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    logger.error("unexpected error on %s", request.url.path, exc_info=exc)
    return error_response(500, "INTERNAL_SERVER_ERROR", "Internal server error")


def bearer_matches(request: Request, token: str) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def build_plugins(settings: Settings) -> list[Plugin]:
    """The plugins the settings turn on, outermost first."""
    # Telemetry first: its department.fetch span is the current span while the plugins inside it run.
    return [TelemetryPlugin(settings), *([CachePlugin(settings)] if settings.cache_enabled else [])]


def build_sources(settings: Settings, connectors: ConnectorSet, plugins: Sequence[Plugin]) -> list[ConnectorSource]:
    """Where the connectors come from: the departments of the settings, then the registry's specs (which replace
    the code connector of their department; their HTTP exchanges pass the plugins' fetch hooks too)."""
    return [StaticConnectors(connectors), RegistrySource(settings, fetch_hooks(plugins))]


def create_app(settings: Settings | None = None, connectors: ConnectorSet | None = None,
               plugins: Sequence[Plugin] | None = None) -> Starlette:
    settings = settings or load_settings()
    plugins = list(build_plugins(settings) if plugins is None else plugins)
    if connectors is None:
        from gateway.departments import build_connectors

        connectors = build_connectors(settings, plugins)
    codec = CursorCodec(settings.cursor_secret.encode())
    policy = load_policy(settings.policy_path)
    authenticator = Authenticator(auth_config(settings))
    metrics = MetricsRegistry()
    configure_fast_paths(settings, metrics)
    for plugin in plugins:
        plugin.register_metrics(metrics)
    source = ConnectorSources(build_sources(settings, connectors, plugins), drain_s=settings.registry_drain_s)
    view = GraphQLView(make_schema(settings, policy, plugins), source, codec, authenticator=authenticator,
                       policy=policy, plugins=plugins, demo=settings.demo)
    # the registry's specs may declare component types: the schema follows (a request keeps its own)
    source.listeners.append(DeclaredTypesSchema(view, lambda types: make_schema(settings, policy, plugins, types)))

    async def metrics_endpoint(request: Request) -> Response:
        if settings.metrics_token is not None and not bearer_matches(request, settings.metrics_token):
            response = error_response(401, "UNAUTHENTICATED", "/metrics needs the metrics bearer token")
            response.headers["www-authenticate"] = 'Bearer realm="yiwang-metrics"'
            return response
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        departments = list(source.current)
        problems = await asyncio.gather(*(health_problem(UpstreamFetch(c, CHECK_HEALTH)) for c in departments))
        report = {c.department_id: {"healthy": p is None, **({"problem": p} if p else {})}
                  for c, p in zip(departments, problems, strict=True)}
        healthy = sum(1 for p in problems if p is None)
        status = "ready" if healthy == len(departments) else ("degraded" if healthy else "unavailable")
        return JSONResponse({"status": status, "departments": report}, status_code=200 if healthy else 503)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for plugin in plugins:
            await plugin.startup()
        await source.start()
        yield
        await source.stop()
        for plugin in reversed(plugins):
            await plugin.shutdown()
        await source.aclose()
        await authenticator.aclose()

    app = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            *graphiql_routes(),
            *(route for plugin in plugins for route in plugin.routes()),
            *source.routes(),
        ],
        exception_handlers={HTTPException: http_error, Exception: unexpected_error},
        middleware=[
            Middleware(CrossOriginAccess, allowed_origins=settings.cors_allowed_origins),  # before any refusal
            Middleware(BodySizeLimit, max_body_bytes=settings.max_body_bytes),
            Middleware(CsrfProtection, enabled=settings.csrf_protection),
            *(middleware for plugin in plugins for middleware in plugin.asgi_middleware()),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.plugins = plugins
    app.state.metrics = metrics
    app.state.authenticator = authenticator
    app.state.connector_source = source
    return app
