"""GraphQL over HTTP (the GraphQL-over-HTTP draft spec): what a request body or query string must hold, which media
type the answer is in, and which status a request error gets.

- Every request field is checked for its JSON type before anything runs: ``query`` and ``operationName`` strings,
  ``variables`` and ``extensions`` objects (null or absent allowed); anything else is ``400 BAD_REQUEST`` naming the
  field. A body that is not a JSON object is refused the same way.
- ``Accept``: ``application/graphql-response+json`` when the client asks for it (by name, with the higher q-value),
  ``application/json`` when it asks for that, for ``*/*`` or ``application/*``, or sends no ``Accept``; a client that
  accepts neither gets ``406 NOT_ACCEPTABLE``.
- A *request error* (the document does not parse or validate, a variable cannot be coerced, a limit refuses it — an
  error before execution, so no error has a ``path``) is answered without a ``data`` entry; under
  ``application/graphql-response+json`` with status 400, under ``application/json`` with 200 (the legacy rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData

from gateway.exceptions import MalformedRequest

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
REQUEST_ERROR_STATUS = 400
# The fields a GraphQL request may carry, each with the JSON type it must have when present and not null.
STRING_FIELDS = ("query", "operationName")
OBJECT_FIELDS = ("variables", "extensions")


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def request_data(data: object, *, from_query_string: bool = False) -> GraphQLRequestData:
    """The GraphQL request in ``data`` (a decoded JSON body, or the query string's parameters with ``variables`` and
    ``extensions`` already JSON-decoded); MalformedRequest naming the first field of the wrong type."""
    where = "query string parameter" if from_query_string else "request field"
    if not isinstance(data, dict):
        raise MalformedRequest(f"the request body must be a JSON object with a `query`, not {_json_type(data)}")
    for name in STRING_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise MalformedRequest(f"the {where} `{name}` must be a string, not {_json_type(value)}", field=name)
    for name in OBJECT_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, dict):
            raise MalformedRequest(f"the {where} `{name}` must be a JSON object, not {_json_type(value)}",
                                   field=name)
    extensions = data.get("extensions")
    if not data.get("query") and not (extensions and "persistedQuery" in extensions):
        raise MalformedRequest("the request has no `query` (nor a persisted query's hash)", field="query")
    return GraphQLRequestData(query=data.get("query"), variables=data.get("variables"),
                              operation_name=data.get("operationName"), extensions=extensions)


def _accepted(accept: str) -> list[tuple[float, int, str]]:
    ranges = []
    for position, part in enumerate(accept.split(",")):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            ranges.append((quality, position, media.lower()))
    return ranges


def response_media_type(accept: str | None) -> str | None:
    """The media type to answer in, or None when the client accepts none of ours."""
    if accept is None or not accept.strip():
        return APPLICATION_JSON
    candidates = []
    for quality, position, media in _accepted(accept):
        if quality <= 0:
            continue
        if media == GRAPHQL_RESPONSE_JSON:
            candidates.append((quality, 1, -position, GRAPHQL_RESPONSE_JSON))
        elif media == APPLICATION_JSON:
            candidates.append((quality, 1, -position, APPLICATION_JSON))
        elif media in ("*/*", "application/*"):
            candidates.append((quality, 0, -position, APPLICATION_JSON))
    # Higher quality wins; between equals a named type before a wildcard, then the one named first.
    return max(candidates)[3] if candidates else None


def is_request_error(response: Mapping[str, Any]) -> bool:
    """No data because the request failed before execution: every error is path-less."""
    errors = response.get("errors") or ()
    return response.get("data") is None and bool(errors) and all(not error.get("path") for error in errors)


def without_data(response: GraphQLHTTPResponse) -> GraphQLHTTPResponse:
    """A request error's answer carries no ``data`` entry (GraphQL spec, "Response Format")."""
    answer = dict(response)
    answer.pop("data", None)
    return answer  # type: ignore[return-value]
