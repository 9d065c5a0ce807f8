"""Keys generated here (RSA and EC), tokens signed with them, a JWKS file and a local JWKS URL server, shared by
the identity tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.auth.authenticator import Authenticator
from gateway.auth.config import AuthConfig, IssuerConfig

YIWANG = Path(sys.executable).with_name("yiwang")
RSA_ISSUER = "https://idp.city.test/realms/cg"
EC_ISSUER = "https://idp.province.test"
AUDIENCE = "yiwang"
RSA_KID, RSA_KID_2, EC_KID, EC_KID_2 = "rsa-2026-01", "rsa-2026-02", "ec-2026-01", "ec-2026-02"
HOUR = 3600
SERVER_START_TIMEOUT_S = 10

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ATTACKER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC_KEY_2 = ec.generate_private_key(ec.SECP256R1())
HS_SECRET = "a-development-secret-of-at-least-32-chars"


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str, alg: str | None = "RS256") -> dict[str, Any]:
    jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}
    return {**jwk, "alg": alg} if alg else jwk


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}


def claims(issuer: str = RSA_ISSUER, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": issuer, "aud": AUDIENCE, "sub": "zhang.wei", "iat": now, "nbf": now,
                            "exp": now + HOUR, "tier": "MUNICIPAL", "regionCode": "370800", "roles": ["dispatcher"]}
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def rsa_token(kid: str | None = RSA_KID, key: Any = RSA_KEY, algorithm: str = "RS256", **overrides: Any) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims(RSA_ISSUER, **overrides), key, algorithm=algorithm, headers=headers)


def ec_token(kid: str = EC_KID, key: Any = EC_KEY, **overrides: Any) -> str:
    return jwt.encode(claims(EC_ISSUER, **overrides), key, algorithm="ES256", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"


def hs256_with_rsa_public_pem() -> str:
    """The classic key-confusion forgery: HS256 'signed' with the issuer's RSA public key as the HMAC secret."""
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header, payload = {"alg": "HS256", "typ": "JWT", "kid": RSA_KID}, claims(tier="NATIONAL", regionCode="000000")
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"


def tampered_token() -> str:
    """A valid token whose payload is swapped for a more powerful one, the signature kept."""
    header, _, signature = rsa_token().split(".")
    payload = b64(json.dumps(claims(tier="NATIONAL", regionCode="000000", roles=["platform_admin"])).encode())
    return f"{header}.{payload}.{signature}"


def bearer(token: str) -> str:
    return f"Bearer {token}"


# ------------------------------------------------------------------------------------------ the JWKS URL server


class JwksServer:
    """A real HTTP server (uvicorn, in a thread) serving a JWKS that a test may rotate; it counts fetches."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": [ec_jwk(EC_KEY, EC_KID)]}
        self.fetches = 0
        self.failing = False
        self.port = _free_port()
        app = Starlette(routes=[Route("/jwks", self._serve)])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks"

    async def _serve(self, request: Request) -> Response:
        self.fetches += 1
        if self.failing:
            return JSONResponse({"error": "down"}, status_code=503)
        return JSONResponse(self.jwks)

    def reset(self) -> None:
        self.jwks, self.fetches, self.failing = {"keys": [ec_jwk(EC_KEY, EC_KID)]}, 0, False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(name="jwks_server", scope="module")
def fixture_jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.server.started:
        assert time.monotonic() < deadline, "JWKS server did not start"
        time.sleep(0.05)
    yield server
    server.server.should_exit = True
    server.thread.join(timeout=SERVER_START_TIMEOUT_S)


@pytest.fixture(name="jwks")
def fixture_jwks(jwks_server: JwksServer) -> JwksServer:
    jwks_server.reset()
    return jwks_server


@pytest.fixture(name="jwks_file")
def fixture_jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "city-idp.jwks.json"
    path.write_text(json.dumps({"keys": [rsa_jwk(RSA_KEY, RSA_KID), rsa_jwk(RSA_KEY_2, RSA_KID_2)]}))
    return path


def auth_config(jwks_file: Path, jwks_url: str, **overrides: Any) -> AuthConfig:
    issuers = (
        IssuerConfig(issuer=RSA_ISSUER, audience=AUDIENCE, jwks_file=jwks_file, algorithms=("RS256",)),
        IssuerConfig(issuer=EC_ISSUER, audience=AUDIENCE, jwks_url=jwks_url, algorithms=("ES256",)),
    )
    return AuthConfig(**{"issuers": issuers, "jwks_refresh_interval_s": 0, **overrides})


@pytest.fixture(name="authenticator")
async def fixture_authenticator(jwks_file: Path, jwks: JwksServer) -> AsyncIterator[Authenticator]:
    auth = Authenticator(auth_config(jwks_file, jwks.url))
    yield auth
    await auth.aclose()
