"""Dropping cached entries by tag (``component:<标识码>``, ``class:<code>``, ``region:<code>``, ``event:<id>``,
``department:<id>``): a signed webhook for department systems and an endpoint for operators (``platform_admin``).

Webhook signature: ``X-Yiwang-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`` with the Unix
time in ``X-Yiwang-Timestamp``. A timestamp further than the tolerance from now is refused, and so is a signature
already seen within the tolerance (a replay).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.auth.principal import Role
from gateway.exceptions import AuthenticationError

if TYPE_CHECKING:
    from gateway.cache.plugin import CachePlugin

logger = logging.getLogger("yiwang.cache")
TIMESTAMP_HEADER = "x-yiwang-timestamp"
SIGNATURE_HEADER = "x-yiwang-signature"
MAX_TAGS = 1000


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def refusal(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status)


def parse_tags(body: bytes) -> list[str] | JSONResponse:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return refusal(400, "BAD_REQUEST", "the body must be JSON: {\"tags\": [\"component:…\", …]}")
    tags = payload.get("tags") if isinstance(payload, dict) else None
    if (not isinstance(tags, list) or not tags or len(tags) > MAX_TAGS
            or not all(isinstance(tag, str) and ":" in tag for tag in tags)):
        return refusal(400, "BAD_REQUEST", f"tags must be a list of 1 to {MAX_TAGS} strings like \"class:0113\"")
    return tags


async def department_webhook(plugin: CachePlugin, request: Request) -> Response:
    secret = plugin.settings.cache_webhook_secret
    if not secret:
        return refusal(404, "NOT_FOUND", "the invalidation webhook is not configured (YIWANG_CACHE_WEBHOOK_SECRET)")
    body = await request.body()
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        return refusal(401, "INVALID_SIGNATURE", "missing or wrong X-Yiwang-Signature")
    try:
        skew = abs(time.time() - float(timestamp))
    except ValueError:
        return refusal(401, "INVALID_SIGNATURE", "X-Yiwang-Timestamp must be Unix seconds")
    tolerance = plugin.settings.cache_webhook_tolerance_s
    if skew > tolerance:
        return refusal(401, "STALE_TIMESTAMP", f"the timestamp is {skew:.0f} s from now (tolerance {tolerance:g} s)")
    # The timestamp is inside the signature, so a replay carries the same signature: remember each one for twice
    # the tolerance (the whole window in which its timestamp is accepted).
    if not await plugin.store.add_once(f"seen:{signature}", 2 * tolerance):
        return refusal(409, "REPLAYED", "this signed request was already received")
    tags = parse_tags(body)
    if isinstance(tags, JSONResponse):
        return tags
    return await _invalidate(plugin, tags, "webhook")


async def admin_invalidate(plugin: CachePlugin, request: Request) -> Response:
    try:
        principal = await request.app.state.authenticator.authenticate(request.headers.get("authorization"))
    except AuthenticationError as exc:
        response = refusal(401, exc.code, exc.message)
        response.headers["www-authenticate"] = 'Bearer realm="yiwang"'
        return response
    if not principal.has_role(Role.PLATFORM_ADMIN):
        return refusal(403, "FORBIDDEN", "dropping cache entries needs the platform_admin role")
    body = await request.body()
    if _wants_everything(body):
        await plugin.store.clear()
        logger.warning("cache cleared by %s", principal.subject)
        return JSONResponse({"cleared": True})
    tags = parse_tags(body)
    if isinstance(tags, JSONResponse):
        return tags
    return await _invalidate(plugin, tags, "admin", principal.subject)


def _wants_everything(body: bytes) -> bool:
    try:
        payload: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(payload, dict) and payload.get("all") is True


async def _invalidate(plugin: CachePlugin, tags: list[str], source: str, who: str = "department") -> Response:
    dropped = await plugin.store.invalidate(tags)
    plugin.count_invalidation(source, dropped)
    logger.info("cache invalidation by %s (%s): %d entries for %s", who, source, dropped, tags)
    return JSONResponse({"invalidated": dropped, "tags": tags})
