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
│   └── MalformedRequest ...... BAD_REQUEST           not a GraphQL request at all (400)
└── ConfigurationError ........ CONFIGURATION_ERROR   invalid settings at start-up

GraphQL errors never carry a stack trace: unexpected exceptions are reported as INTERNAL_SERVER_ERROR with a
generic message and logged server-side.
"""

from __future__ import annotations

from typing import Any, ClassVar


class YiwangError(Exception):
    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions

    def to_extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.extensions}


class UserInputError(YiwangError):
    code = "BAD_USER_INPUT"
    http_status = 400


class NotFoundError(YiwangError):
    code = "NOT_FOUND"
    http_status = 404


class AuthenticationError(YiwangError):
    code = "UNAUTHENTICATED"
    http_status = 401


class ForbiddenError(YiwangError):
    code = "FORBIDDEN"
    http_status = 403


class UpstreamError(YiwangError):
    http_status = 502

    def __init__(self, department: str, message: str, **extensions: Any) -> None:
        super().__init__(message, department=department, **extensions)
        self.department = department


class UpstreamTimeout(UpstreamError):
    code = "UPSTREAM_TIMEOUT"
    http_status = 504


class UpstreamUnavailable(UpstreamError):
    code = "UPSTREAM_UNAVAILABLE"


class UpstreamCredentialsRejected(UpstreamUnavailable):
    def __init__(self, department: str, message: str, *, status: int) -> None:
        super().__init__(department, message)
        self.status = status  # 401 or 403, for the connector; not shown to clients


class UpstreamBadResponse(UpstreamError):
    code = "UPSTREAM_BAD_RESPONSE"


class RequestRejected(YiwangError):
    http_status = 400


class PayloadTooLarge(RequestRejected):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class CsrfRejected(RequestRejected):
    code = "CSRF_REJECTED"


class MalformedRequest(RequestRejected):
    code = "BAD_REQUEST"


class ConfigurationError(YiwangError):
    code = "CONFIGURATION_ERROR"
