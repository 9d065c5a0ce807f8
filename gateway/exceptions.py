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
"""

from __future__ import annotations

import re
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


_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@")


class UpstreamError(YiwangError):
    """A department failed. ``message`` is for callers: generic per code, naming the department — by id, and by
    name once ``name_department`` has been called (``gateway.fanout`` does, knowing the connector). ``detail`` says
    what went wrong (the exception's text, the field, the value) for logs, traces and the department's operator;
    ``cause_name()`` is the type of the exception behind it."""

    http_status = 502
    public_text: ClassVar[str] = "failed"

    def __init__(self, department: str, detail: str, **extensions: Any) -> None:
        detail = _URL_USERINFO.sub(r"\1", detail) if "@" in detail else detail  # never a credential in a log
        super().__init__(detail, department=department, **extensions)
        self.department = department
        self.detail = detail
        self.department_name: str | None = None
        self.message = self._public_message()

    def name_department(self, name: str | None) -> None:
        """Name the department in ``message`` (e.g. ``the gas department (燃气) is unavailable``)."""
        self.department_name = name or None
        self.message = self._public_message()

    def cause_name(self) -> str:
        """The qualified type name of the exception this error stands for: the first cause down its chain that is
        no ``UpstreamError`` (a connector may wrap one in another), else the last one."""
        cause: BaseException = self
        while isinstance(cause, UpstreamError) and cause.__cause__ is not None:
            cause = cause.__cause__
        kind = type(cause)
        return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"

    def _public_message(self) -> str:
        named = f" ({self.department_name})" if self.department_name else ""
        return f"the {self.department} department{named} {self.public_text}"


class UpstreamTimeout(UpstreamError):
    code = "UPSTREAM_TIMEOUT"
    http_status = 504
    public_text = "did not answer in time"


class UpstreamUnavailable(UpstreamError):
    code = "UPSTREAM_UNAVAILABLE"
    public_text = "is unavailable"


class UpstreamCredentialsRejected(UpstreamUnavailable):
    def __init__(self, department: str, detail: str, *, status: int) -> None:
        super().__init__(department, detail)
        self.status = status  # 401 or 403, for the connector; not shown to clients


class UpstreamBadResponse(UpstreamError):
    code = "UPSTREAM_BAD_RESPONSE"
    public_text = "answered with data the gateway could not read"


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
