"""What every mock department shares: fault injection and a request log, as a plain ASGI middleware.

``POST /_mock/faults`` takes ``{"down": bool, "latency_ms": int, "error_rate": float, "malformed": bool,
"garbled": str}`` (all optional; ``{}`` resets). ``garbled`` names a way the department's own answers go wrong
while still parsing (a mock that knows it acts on it; see the mock's docstring). ``GET /_mock/requests[?since=SEQ]``
answers ``{"total": N, "requests": [...]}``: ``total`` counts every department request since start (control requests
under ``/_mock`` are not counted), ``requests`` lists the most recent ones with ``seq``, method, path, query and
headers.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL_PREFIX = "/_mock"
DEFAULT_LOG_SIZE = 2000
_FAULT_KEYS = {"down": bool, "latency_ms": int, "error_rate": float, "malformed": bool, "garbled": str}
_DOWN_BODY = b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>" \
             b"<hr><center>nginx</center></body></html>"
_ERROR_BODY = b'{"error":"Internal Server Error","message":"java.lang.NullPointerException"}'


@dataclass
class Faults:
    down: bool = False
    latency_ms: int = 0
    error_rate: float = 0.0
    malformed: bool = False
    garbled: str = ""  # read by the department app itself


class MockControl:
    """ASGI middleware in front of a mock department app."""

    def __init__(self, app: ASGIApp, *, log_size: int = DEFAULT_LOG_SIZE, seed: int = 0) -> None:
        if log_size <= 0:
            raise ValueError("log_size must be positive")
        self.app = app
        self.faults = Faults()
        self.total = 0
        self.log: deque[dict[str, Any]] = deque(maxlen=log_size)
        self._random = random.Random(seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await self._control(scope, receive, send)
            return
        self.total += 1
        self.log.append({
            "seq": self.total,
            "method": scope["method"],
            "path": path,
            "query": scope.get("query_string", b"").decode("latin-1"),
            "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
        })
        faults = self.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.down:
            await _respond(send, 502, _DOWN_BODY, b"text/html")
            return
        if faults.error_rate and self._random.random() < faults.error_rate:
            await _respond(send, 500, _ERROR_BODY, b"application/json")
            return
        if faults.malformed:
            await self.app(scope, receive, _truncating(send))
            return
        await self.app(scope, receive, send)

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path == f"{CONTROL_PREFIX}/faults" and method == "POST":
            body = await _read_body(receive)
            try:
                self.faults = _parse_faults(body)
            except ValueError as exc:
                await _respond_json(send, 400, {"error": str(exc)})
                return
            await _respond_json(send, 200, vars(self.faults))
        elif path == f"{CONTROL_PREFIX}/faults" and method == "GET":
            await _respond_json(send, 200, vars(self.faults))
        elif path == f"{CONTROL_PREFIX}/requests" and method == "GET":
            since = _query_int(scope, "since")
            requests = [entry for entry in self.log if entry["seq"] > since]
            await _respond_json(send, 200, {"total": self.total, "requests": requests})
        else:
            await _respond_json(send, 404, {"error": f"no control endpoint {method} {path}"})


def _parse_faults(body: bytes) -> Faults:
    try:
        raw = json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError("body must be a JSON object")
    unknown = set(raw) - set(_FAULT_KEYS)
    if unknown:
        raise ValueError(f"unknown fault keys: {sorted(unknown)}")
    faults = Faults()
    for key, value in raw.items():
        kind = _FAULT_KEYS[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ValueError(f"{key} must be {kind.__name__}")
        setattr(faults, key, value)
    if not 0.0 <= faults.error_rate <= 1.0:
        raise ValueError("error_rate must be within 0..1")
    if faults.latency_ms < 0:
        raise ValueError("latency_ms must not be negative")
    return faults


def _query_int(scope: Scope, name: str) -> int:
    from urllib.parse import parse_qs

    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    try:
        return int(values[0]) if values else 0
    except ValueError:
        return 0


def _truncating(send: Send) -> Send:
    """Cut the department's answer in half: a body that no longer parses, with a 200 status."""
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
            await send({**message, "headers": headers})
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                body = b"".join(chunks)
                await send({"type": "http.response.body", "body": body[: max(1, len(body) // 2)]})
        else:
            await send(message)

    return wrapped


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


async def _respond_json(send: Send, status: int, payload: Any) -> None:
    await _respond(send, status, json.dumps(payload, ensure_ascii=False).encode(), b"application/json")
