"""Department authentication a spec can declare: an API key header, or OAuth2 client credentials (token cached
until shortly before it expires, renewed once on a 401)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Generator

import httpx

from connectors.client import DepartmentClient
from connectors.errors import UpstreamUnavailable
from connectors.http import parse_json, send, translating
from connectors.spec.model import ApiKeyAuth, Auth, OAuth2ClientCredentials

HTTP_UNAUTHORIZED = 401
TOKEN_RENEW_FRACTION = 0.1  # renew when a tenth of the token's lifetime is left


class ApiKeyHeader(httpx.Auth):
    def __init__(self, header: str, key: str) -> None:
        self._header = header
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._key
        yield request


class ClientCredentials(httpx.Auth):
    def __init__(self, client: DepartmentClient, department: str, config: OAuth2ClientCredentials) -> None:
        self._client = client
        self._department = department
        self._config = config
        self._token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def _current(self, rejected: str | None = None) -> str:
        async with self._lock:
            if self._token is not None and self._token[0] != rejected and time.monotonic() < self._token[1]:
                return self._token[0]
            return await self._renew()

    async def _renew(self) -> str:
        config = self._config
        form = {"grant_type": "client_credentials", "client_id": config.client_id,
                "client_secret": config.client_secret.get_secret_value()}
        if config.scope:
            form["scope"] = config.scope
        started = time.monotonic()
        try:
            response = await send(self._client, self._department, "POST", config.token_url, data=form)
        except UpstreamUnavailable as exc:
            raise UpstreamUnavailable(self._department, f"{self._department}: could not obtain an OAuth2 token "
                                                        f"for client {config.client_id!r} ({exc.detail})") from exc
        payload = parse_json(self._department, response)
        with translating(self._department, "token response"):
            token = str(payload["access_token"])
            lifetime = float(payload.get("expires_in", 300))
        self._token = (token, started + lifetime * (1 - TOKEN_RENEW_FRACTION))
        return token

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._current()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == HTTP_UNAUTHORIZED:
            request.headers["Authorization"] = f"Bearer {await self._current(rejected=token)}"
            yield request


def make_auth(auth: Auth, client: DepartmentClient, department: str) -> httpx.Auth | None:
    if isinstance(auth, ApiKeyAuth):
        return ApiKeyHeader(auth.header, auth.key.get_secret_value())
    if isinstance(auth, OAuth2ClientCredentials):
        return ClientCredentials(client, department, auth)
    return None
