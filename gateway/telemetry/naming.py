"""Span names and attribute keys, after Hive Gateway's pipeline stages (``graphql.parse``, ``graphql.execute``,
``http.fetch`` …) and the OpenTelemetry semantic conventions where one exists. The trace page reads the same keys."""

from __future__ import annotations

TRACER_NAME = "yiwang"

# --- span names ------------------------------------------------------------------------------------------------
OPERATION = "graphql.operation"  # + " <operation name>" when the operation has one
PARSE = "graphql.parse"
VALIDATE = "graphql.validate"
EXECUTE = "graphql.execute"
DEPARTMENT_FETCH = "department.fetch"  # + " <department>": one per connector call, like Hive's subgraph.execute
HTTP_FETCH = "http.fetch"  # the outgoing HTTP request to a department system

# --- attributes --------------------------------------------------------------------------------------------------
HTTP_METHOD = "http.request.method"
HTTP_STATUS = "http.response.status_code"
URL_PATH = "url.path"
URL_FULL = "url.full"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

OPERATION_NAME = "graphql.operation.name"
OPERATION_TYPE = "graphql.operation.type"
DOCUMENT_HASH = "graphql.document.hash"
DOCUMENT = "graphql.document"
ERROR_COUNT = "graphql.error.count"
FAILED_DEPARTMENTS = "yiwang.failed_departments"

DEPARTMENT = "yiwang.department"
CONNECTOR_ID = "yiwang.connector.id"
CONNECTOR_VERSION = "yiwang.connector.version"
FETCH_OPERATION = "yiwang.operation"
ITEM_COUNT = "yiwang.items"
CACHE = "yiwang.cache"  # set by the caching plugin (inside the tracing one) on the current department.fetch span
HTTP_CALLS = "yiwang.http.calls"
RETRIES = "yiwang.retries"
ERROR_CODE = "yiwang.error.code"  # a department call's UpstreamError code
CANCELLED = "yiwang.cancelled"  # a department call or operation abandoned (a sibling failed, the caller left)
SKIPPED = "yiwang.skipped"  # why a department was left out of the answer (it cannot take the query's filter)
CALLER_ERROR = "yiwang.caller_error.code"  # refused for the caller's input: not the department's failure
EXCEPTION_EVENT = "exception"  # OpenTelemetry's event for an exception, with the two attributes below
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"  # a department failure's detail: never in a caller's message
GRAPHQL_PATH = "graphql.field.path"  # where a department's record failed when a field was read
FAILURE_COUNT = "yiwang.failures"  # how many fields failed like the one described
ERROR_CODES = "yiwang.error.codes"  # the GraphQL errors' extensions.code values of a stage or operation

RESOURCE_TIER = "yiwang.platform.tier"
RESOURCE_REGION = "yiwang.platform.region"

TRACE_ID_HEADER = "x-trace-id"
