"""Plain ASGI middleware for the HTTP edge: body size limit and CSRF protection (both on by default)."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.exceptions import CsrfRejected, PayloadTooLarge, RequestRejected

# A request that carries one of these cannot be a "simple" cross-site request: browsers preflight it.
PREFLIGHT_CONTENT_TYPES = ("application/json", "application/graphql-response+json")
PREFLIGHT_HEADERS = (b"x-yiwang-csrf", b"apollo-require-preflight", b"x-apollo-operation-name")


async def send_error(send: Send, error: RequestRejected) -> None:
    body = orjson.dumps({"errors": [{"message": error.message, "extensions": error.to_extensions()}]})
    await send({"type": "http.response.start", "status": error.http_status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        if max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        too_large = PayloadTooLarge(f"request body larger than {limit} bytes")
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await send_error(send, too_large)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await send_error(send, too_large)


class _BodyTooLarge(Exception):
    pass


class CsrfProtection:
    """Refuse requests a browser would send cross-site without a preflight (Apollo Router's rule): a GraphQL
    request must have a JSON content type or one of ``PREFLIGHT_HEADERS``. Page loads of GraphiQL (GET without a
    query) pass."""

    def __init__(self, app: ASGIApp, *, path: str = "/graphql", enabled: bool = True) -> None:
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        self.app = app
        self.path = path
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled or scope["type"] != "http" or scope["path"] != self.path or self._preflighted(scope):
            await self.app(scope, receive, send)
            return
        await send_error(send, CsrfRejected(
            "this request could be a cross-site request forgery: send it with Content-Type: application/json "
            "or with an X-Yiwang-CSRF header"))

    @staticmethod
    def _preflighted(scope: Scope) -> bool:
        headers = dict(scope["headers"])
        if any(name in headers for name in PREFLIGHT_HEADERS):
            return True
        if scope["method"] == "GET":
            return b"query=" not in scope.get("query_string", b"")
        content_type = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        return content_type in PREFLIGHT_CONTENT_TYPES
