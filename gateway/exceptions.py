"""Every error yiwang raises on purpose, each mapped to a stable ``extensions.code``.

YiwangError
├── UserInputError ............ BAD_USER_INPUT        bad argument: malformed 标识码, unknown class code, bad cursor
├── NotFoundError ............. NOT_FOUND             an id that no department knows
├── AuthenticationError ....... UNAUTHENTICATED       no, bad or untrusted bearer token (HTTP 401)
├── ForbiddenError ............ FORBIDDEN             asking for data outside the caller's scope or role
├── UpstreamError ............. (abstract)            a department system failed; carries ``department``
│   ├── UpstreamTimeout ....... UPSTREAM_TIMEOUT      no answer within the connector's timeout
│   ├── UpstreamUnavailable ... UPSTREAM_UNAVAILABLE  refused connection, 5xx, rejected credentials
│   │   └── UpstreamCredentialsRejected   the department answered 401/403 (a connector may renew and retry)
│   └── UpstreamBadResponse ... UPSTREAM_BAD_RESPONSE an answer that does not parse or does not fit the dialect
├── RequestRejected ........... (HTTP level, before GraphQL runs)
│   ├── PayloadTooLarge ....... PAYLOAD_TOO_LARGE     body over the configured limit (413)
│   ├── CsrfRejected .......... CSRF_REJECTED         a simple cross-site request without a preflight (400)
│   ├── CorsRejected .......... CORS_REJECTED         a preflight from an origin (method, header) not allowed (403)
│   ├── MalformedRequest ...... BAD_REQUEST           not a GraphQL request: bad JSON, a field of the wrong type (400)
│   ├── NotAcceptable ......... NOT_ACCEPTABLE        the Accept header allows none of our media types (406)
│   └── UnsupportedMediaType .. UNSUPPORTED_MEDIA_TYPE a POST body that is not UTF-8 application/json (415)
└── ConfigurationError ........ CONFIGURATION_ERROR   invalid settings at start-up

GraphQL errors never carry a stack trace: unexpected exceptions are reported as INTERNAL_SERVER_ERROR with a
generic message and logged server-side.

A department's internals never reach callers either: an ``UpstreamError``'s ``message`` (what every caller-facing
path shows) is generic per code and names the department; what went wrong — the exception, the value, the field — is
its ``detail`` (also ``str(error)``), for the server log, the trace and the department's operator only.

The root, ``UserInputError`` and the ``Upstream*`` family are defined in ``connectors.errors`` (connectors raise them
and must not import the gateway) and re-exported here; the rest are the gateway's own.
"""

from __future__ import annotations

from connectors.errors import (
    UpstreamBadResponse,
    UpstreamCredentialsRejected,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    UserInputError,
    YiwangError,
)

__all__ = [
    "AuthenticationError", "ConfigurationError", "CorsRejected", "CsrfRejected", "ForbiddenError", "MalformedRequest",
    "NotAcceptable", "NotFoundError", "PayloadTooLarge", "RequestRejected", "UnsupportedMediaType",
    "UpstreamBadResponse", "UpstreamCredentialsRejected", "UpstreamError", "UpstreamTimeout", "UpstreamUnavailable",
    "UserInputError", "YiwangError",
]


class NotFoundError(YiwangError):
    code = "NOT_FOUND"
    http_status = 404


class AuthenticationError(YiwangError):
    code = "UNAUTHENTICATED"
    http_status = 401


class ForbiddenError(YiwangError):
    code = "FORBIDDEN"
    http_status = 403


class RequestRejected(YiwangError):
    http_status = 400


class PayloadTooLarge(RequestRejected):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class CsrfRejected(RequestRejected):
    code = "CSRF_REJECTED"


class CorsRejected(RequestRejected):
    code = "CORS_REJECTED"
    http_status = 403


class MalformedRequest(RequestRejected):
    code = "BAD_REQUEST"


class NotAcceptable(RequestRejected):
    code = "NOT_ACCEPTABLE"
    http_status = 406


class UnsupportedMediaType(RequestRejected):
    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


class ConfigurationError(YiwangError):
    code = "CONFIGURATION_ERROR"
