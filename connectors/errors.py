"""The errors a connector raises: a caller's bad input (``UserInputError``) and the ``UpstreamError`` family, one
per way a department can fail. ``gateway.exceptions`` re-exports them beside the gateway's own errors, under the
one ``YiwangError`` root that maps each to a stable ``extensions.code``; they live here so that ``connectors/``
needs nothing from ``gateway/``.
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
