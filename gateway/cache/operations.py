"""Whole-operation caching: automatic persisted queries (the Apollo APQ convention) and a response cache for
read-only operations, keyed by document hash + operation name + variables + the caller's view, kept for the shortest
freshness of the department answers it was built from.

APQ: a client sends ``extensions.persistedQuery = {"version": 1, "sha256Hash": <hex sha256 of the query>}`` without
the query; an unknown hash answers ``PERSISTED_QUERY_NOT_FOUND`` and the client retries with query and hash, which
registers it (shared by every instance on one Redis).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from gateway.cache.keys import view_key
from gateway.cache.privacy import PrivacyAnalysis, private_id
from gateway.context import RequestContext

if TYPE_CHECKING:
    from gateway.cache.plugin import CachePlugin

logger = logging.getLogger("yiwang.cache")
APQ_VERSION = 1


def query_hash(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def persisted_queries(plugin: CachePlugin) -> type[SchemaExtension]:
    class PersistedQueries(SchemaExtension):
        async def on_operation(self) -> AsyncIterator[None]:
            context = self.execution_context
            persisted = (context.operation_extensions or {}).get("persistedQuery")
            if persisted is not None:
                try:
                    await _resolve_persisted(plugin, context, persisted)
                except GraphQLError as error:
                    context.pre_execution_errors = [error]  # what the telemetry reports for the operation
                    raise
            yield

    return PersistedQueries


async def _resolve_persisted(plugin: CachePlugin, context: Any, persisted: Any) -> None:
    if not isinstance(persisted, dict) or persisted.get("version") != APQ_VERSION:
        raise GraphQLError("Unsupported persisted query version", extensions={"code": "PERSISTED_QUERY_NOT_SUPPORTED"})
    sha = persisted.get("sha256Hash")
    if not isinstance(sha, str) or len(sha) != 64:
        raise GraphQLError("sha256Hash must be 64 hex digits", extensions={"code": "BAD_REQUEST"})
    sha = sha.lower()
    if context.query:
        if query_hash(context.query) != sha:
            raise GraphQLError("provided sha does not match query", extensions={"code": "BAD_REQUEST"})
        await plugin.store.set(f"apq:{sha}", context.query.encode(), plugin.settings.cache_apq_ttl_s)
        plugin.count_apq("registered")
        return
    stored = await plugin.store.get(f"apq:{sha}")
    if stored is None:
        plugin.count_apq("not_found")
        raise GraphQLError("PersistedQueryNotFound", extensions={"code": "PERSISTED_QUERY_NOT_FOUND"})
    plugin.count_apq("hit")
    context.query = stored.decode()


def response_cache(plugin: CachePlugin) -> type[SchemaExtension]:
    privacy = PrivacyAnalysis()

    class ResponseCache(SchemaExtension):
        """Skips execution when an identical read-only operation by an identically-scoped caller is cached; marks
        answers that contain stale department data (``extensions.stale``)."""

        async def on_execute(self) -> AsyncIterator[None]:
            context = self.execution_context
            request = context.context
            key = None
            if (plugin.settings.cache_responses and isinstance(request, RequestContext)
                    and context.operation_type is OperationType.QUERY and context.query):
                document = context.graphql_document
                private = document is not None and privacy.is_private(context.schema._schema, document)
                key = _response_key(context, request, private)
                cached = await plugin.store.get(key)
                if cached is not None:
                    plugin.count_response("hit")
                    context.result = ExecutionResult(data=orjson.loads(cached), errors=None)
                    yield
                    return
            yield
            if key is None:
                return
            result = context.result
            state = plugin.fetches.state_of(request)
            if (state is None or result is None or result.errors or state.uncacheable or request.failures
                    or not 0 < state.min_ttl < float("inf")):
                plugin.count_response("uncacheable")
                return
            try:
                payload = orjson.dumps(result.data)
            except TypeError:
                logger.warning("response not cached: data is not plain JSON", exc_info=True)
                return
            plugin.count_response("miss")
            await plugin.store.set(key, payload, state.min_ttl, state.tags)

        def get_results(self) -> dict[str, Any]:
            request = self.execution_context.context
            state = plugin.fetches.states.get(request) if request is not None else None
            return {"stale": state.stale} if state is not None and state.stale else {}

    return ResponseCache


def _response_key(context: Any, request: RequestContext, private: bool) -> str:
    """Document, operation, variables, the caller's view, connector versions — and, when the operation selects a
    PRIVATE field, who the caller is."""
    connectors = sorted((c.department_id, c.version) for c in request.connectors)
    who = private_id(request.access.principal) if private else None
    parts = (query_hash(context.query), context.operation_name, context.variables or {}, view_key(request.access),
             connectors, who)
    try:
        encoded = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:  # variables are not coerced yet: an integer past 64 bits is for validation to refuse
        encoded = json.dumps(parts, sort_keys=True, default=str).encode()
    digest = hashlib.sha256(encoded).hexdigest()
    return f"r:{digest}"
