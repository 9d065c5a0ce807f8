"""Plain ASGI middleware for the HTTP edge: cross-origin access (CORS, only for the configured origins), body size
limit and CSRF protection (both on by default)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.values import is_ascii_digits
from gateway.exceptions import CorsRejected, CsrfRejected, PayloadTooLarge, RequestRejected

# A request that carries one of these cannot be a "simple" cross-site request: browsers preflight it.
PREFLIGHT_CONTENT_TYPES = ("application/json", "application/graphql-response+json")
PREFLIGHT_HEADERS = (b"x-yiwang-csrf", b"apollo-require-preflight", b"x-apollo-operation-name")


async def send_error(send: Send, error: RequestRejected, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    body = orjson.dumps({"errors": [{"message": error.message, "extensions": error.to_extensions()}]})
    await send({"type": "http.response.start", "status": error.http_status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
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
        too_large = _BodyTooLarge(limit)
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
                raise _BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await send_error(send, too_large)


class _BodyTooLarge(PayloadTooLarge):
    """Raised out of ``receive``: an app that maps YiwangErrors answers 413 itself, any other gets it from here."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")


class CsrfProtection:
    """Refuse requests a browser would send cross-site without a preflight (Apollo Router's rule): a GraphQL
    request must have a JSON content type, one of ``PREFLIGHT_HEADERS`` or a bearer token. Page loads of GraphiQL
    (GET without a query) pass. Whether a preflighted request may come from another origin is CrossOriginAccess's
    decision: the browser asks it first, so an origin it refuses never gets here."""

    def __init__(self, app: ASGIApp, *, path: str = "/graphql", enabled: bool = True) -> None:
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        self.app = app
        self.path = path
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (not self.enabled or scope["type"] != "http" or scope["path"] != self.path
                or scope["method"] == "OPTIONS" or self._preflighted(scope)):
            # OPTIONS carries no operation: a CORS preflight is answered by CrossOriginAccess (outside this guard),
            # any other OPTIONS gets the router's 405.
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
        # Authorization is no CORS-safelisted header, so a cross-site request carrying it was preflighted; browsers
        # attach cached Basic credentials by themselves, never a Bearer token.
        if headers.get(b"authorization", b"")[:7].lower() == b"bearer ":
            return True
        if scope["method"] == "GET":
            return b"query=" not in scope.get("query_string", b"")
        content_type = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        return content_type in PREFLIGHT_CONTENT_TYPES


# Cross-origin access (CORS). No credentials mode: the gateway authenticates by bearer token, which a dashboard puts
# in the Authorization header itself, and sets no cookies, so browsers need not send (or be allowed) credentials.
CORS_METHODS = ("GET", "POST")
CORS_REQUEST_HEADERS = ("authorization", "content-type", "traceparent", "tracestate",
                        *(name.decode() for name in PREFLIGHT_HEADERS))
CORS_SAFELISTED_HEADERS = ("accept", "accept-language", "content-language")  # browsers may list them in a preflight
CORS_EXPOSED_HEADERS = ("x-trace-id",)
CORS_MAX_AGE_S = 600
DEFAULT_PORTS = {"http": "80", "https": "443"}
_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<wildcard>\*\.)?(?P<host>\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(?P<port>\d{1,5}))?")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_SUBDOMAIN = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
_ORIGIN_FORM = "scheme://host[:port] (http or https, no path), or scheme://*.domain[:port] for its subdomains"


def parse_allowed_origins(value: str | Iterable[str]) -> tuple[str, ...]:
    """The allowed origins (comma-separated or a list), normalised the way browsers send ``Origin``: lower case,
    without a default port or a trailing slash. ``https://*.example.gov.cn`` allows every subdomain of
    example.gov.cn at any depth, not example.gov.cn itself. ``*`` and ``null`` are refused: on a city intranet
    "any origin" would let every web page an official opens query the gateway from their browser."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(_normalised_origin(item.strip()) for item in items if item.strip()))


def _normalised_origin(text: str) -> str:
    if text in ("*", "null"):
        raise ValueError(f"CORS origin {text!r} is not allowed: list each origin as {_ORIGIN_FORM}")
    match = _ORIGIN.fullmatch(text.lower().removesuffix("/"))
    if match is None:
        raise ValueError(f"CORS origin {text!r} is not {_ORIGIN_FORM}")
    scheme, wildcard, host, port = match.group("scheme", "wildcard", "host", "port")
    labels = [] if host.startswith("[") else host.split(".")
    if labels and not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"CORS origin {text!r} has an invalid host name")
    if wildcard and (len(labels) < 2 or is_ascii_digits(labels[-1])):
        raise ValueError(f"CORS origin {text!r}: a wildcard needs a domain name of two labels or more, "
                         "as in https://*.example.gov.cn")
    if port is not None and not 0 < int(port) < 65536:
        raise ValueError(f"CORS origin {text!r} has an invalid port")
    port_part = "" if port is None or port.lstrip("0") == DEFAULT_PORTS[scheme] else f":{int(port)}"
    return f"{scheme}://{wildcard or ''}{host}{port_part}"


class CrossOriginAccess:
    """CORS for the configured origins only (``YIWANG_CORS_ALLOWED_ORIGINS``; none by default). The outermost
    middleware: a preflight (OPTIONS with ``Access-Control-Request-Method``) is answered here — 204 with the CORS
    headers when its origin, method and headers are all allowed, else 403 ``CORS_REJECTED`` without them, so the
    browser refuses the real request. Other requests pass on (the CSRF guard still refuses simple cross-site ones);
    those from an allowed origin get ``Access-Control-Allow-Origin`` and may read ``x-trace-id``."""

    def __init__(self, app: ASGIApp, *, allowed_origins: str | Iterable[str] = ()) -> None:
        origins = parse_allowed_origins(allowed_origins)
        self.app = app
        self.origins = origins
        self.exact = frozenset(origin.encode() for origin in origins if "://*." not in origin)
        patterns = [re.escape(scheme + "://") + _SUBDOMAIN + re.escape(domain)
                    for scheme, _, domain in (origin.partition("://*.") for origin in origins if "://*." in origin)]
        self.wildcards = re.compile("|".join(patterns).encode()) if patterns else None
        self.exposed = (b"access-control-expose-headers", ", ".join(CORS_EXPOSED_HEADERS).encode())

    def allows(self, origin: bytes) -> bool:
        return origin in self.exact or (self.wildcards is not None and self.wildcards.fullmatch(origin) is not None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            headers = dict(scope["headers"])
            if b"origin" in headers and b"access-control-request-method" in headers:
                await self._preflight(headers, send)
                return
        if not self.origins:  # no cross-origin access: browsers refuse other origins' reads without our headers
            await self.app(scope, receive, send)
            return
        origin = next((value for name, value in scope["headers"] if name == b"origin"), None)
        # Vary: Origin on every answer, so that a shared cache keeps each origin's apart.
        added = [(b"vary", b"Origin")]
        if origin is not None and self.allows(origin):
            added += [(b"access-control-allow-origin", origin), self.exposed]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, headers: dict[bytes, bytes], send: Send) -> None:
        origin = headers[b"origin"]
        method = headers[b"access-control-request-method"].decode("latin-1").strip()
        requested = [name.strip() for name in headers.get(b"access-control-request-headers", b"").decode(
            "latin-1").lower().split(",") if name.strip()]
        refused = [name for name in requested if name not in CORS_REQUEST_HEADERS + CORS_SAFELISTED_HEADERS]
        vary = (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
        if not self.allows(origin):
            shown = origin.decode("latin-1")[:200]
            reason = (f"the origin {shown} may not call this gateway from a browser" if self.origins else
                      "this gateway allows no cross-origin browser access (YIWANG_CORS_ALLOWED_ORIGINS is empty)")
        elif method not in CORS_METHODS:
            reason = f"cross-origin requests may use {' or '.join(CORS_METHODS)}, not {method[:20]}"
        elif refused:
            reason = (f"cross-origin requests may not send the header(s) {', '.join(r[:60] for r in refused[:5])}; "
                      f"allowed: {', '.join(CORS_REQUEST_HEADERS)}")
        else:
            reason = ""
        if reason:
            await send_error(send, CorsRejected(reason), [vary])
            return
        response_headers = [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", ", ".join(CORS_METHODS).encode()),
            (b"access-control-allow-headers", ", ".join(CORS_REQUEST_HEADERS).encode()),
            (b"access-control-max-age", str(CORS_MAX_AGE_S).encode()),
            vary,
        ]
        if headers.get(b"access-control-request-private-network", b"").lower() == b"true":
            # A listed origin may reach the gateway from a public address (Chromium's Private Network Access).
            response_headers.append((b"access-control-allow-private-network", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": response_headers})
        await send({"type": "http.response.body", "body": b""})
