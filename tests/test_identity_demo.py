"""The demo issuer, the `yiwang token` CLI, and how long a verified token is remembered."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from gateway.auth.authenticator import Authenticator
from gateway.auth.config import AuthConfig
from gateway.auth.demo import DEMO_PERSONAS, demo_auth_config, demo_issuer_config, demo_tokens, mint_token
from gateway.auth.principal import Principal, Role, Tier
from gateway.exceptions import AuthenticationError
from tests.identity_fixtures import (
    YIWANG,
    JwksServer,
    auth_config,
    bearer,
    fixture_jwks,  # noqa: F401 (the pytest fixture jwks)
    fixture_jwks_file,  # noqa: F401 (the pytest fixture jwks_file)
    fixture_jwks_server,  # noqa: F401 (the pytest fixture jwks_server)
)

# ------------------------------------------------------------------------------------------------ demo issuer


async def test_demo_tokens_one_per_tier() -> None:
    authenticator = Authenticator(demo_auth_config())
    tokens = demo_tokens()
    assert len(tokens) == len(DEMO_PERSONAS)
    principals = [await authenticator.authenticate(bearer(token)) for token in tokens.values()]
    assert [(p.tier, p.region_code, p.roles) for p in principals] == [
        (Tier.NATIONAL, "000000", frozenset({"viewer"})), (Tier.PROVINCIAL, "370000", frozenset({"viewer"})),
        (Tier.MUNICIPAL, "370800", frozenset({"dispatcher"})), (Tier.DISTRICT, "370811", frozenset({"inspector"})),
        (Tier.NATIONAL, "000000", frozenset({"platform_admin"}))]
    assert all(p.issuer == "yiwang-demo" for p in principals)
    assert (await authenticator.authenticate(None)).is_public


def test_mint_token_validates_its_input() -> None:
    with pytest.raises(ValueError, match="municipal region code"):
        mint_token("municipal", "370000", ["dispatcher"])
    with pytest.raises(ValueError, match="unknown role"):
        mint_token("district", "370811", ["god"])


async def test_demo_token_refused_by_a_production_config(jwks_file: Path, jwks: JwksServer) -> None:
    token = mint_token(Tier.NATIONAL, "000000", [Role.PLATFORM_ADMIN])
    with pytest.raises(AuthenticationError, match="not trusted"):
        await Authenticator(auth_config(jwks_file, jwks.url)).authenticate(bearer(token))


def _yiwang(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIWANG_")}
    return subprocess.run([str(YIWANG), *args], capture_output=True, text=True, env=env, timeout=60, check=False)


async def test_yiwang_token_cli() -> None:
    result = _yiwang("token", "--tier", "municipal", "--region", "370800", "--role", "dispatcher", "--role",
                     "inspector", "--department", "water", "--ttl", "600", "--subject", "wang.fang")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    principal = await Authenticator(AuthConfig(issuers=(demo_issuer_config(),))).authenticate(bearer(token))
    assert principal == Principal(subject="wang.fang", tier=Tier.MUNICIPAL, region_code="370800",
                                  roles=frozenset({"dispatcher", "inspector"}), departments=frozenset({"water"}),
                                  issuer="yiwang-demo")
    lifetime = jwt.decode(token, options={"verify_signature": False})
    assert lifetime["exp"] - lifetime["iat"] == 600


@pytest.mark.parametrize(("args", "expected"), [
    (["--tier", "district", "--region", "370800", "--role", "inspector"], "district region code"),
    (["--tier", "city", "--region", "370800", "--role", "inspector"], "invalid choice"),
    (["--tier", "national", "--region", "000000", "--role", "root"], "unknown role"),
])
def test_yiwang_token_cli_refuses_bad_input(args: list[str], expected: str) -> None:
    result = _yiwang("token", *args)
    assert result.returncode == 2 and expected in result.stderr and not result.stdout


async def test_a_verified_token_is_remembered_but_not_past_its_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    import time as time_module

    from gateway.auth import tokens
    from gateway.auth.demo import demo_issuer_config, mint_token

    issuer = demo_issuer_config().model_copy(update={"leeway_s": 0})
    authenticator = Authenticator(AuthConfig(issuers=(issuer,)))
    token = mint_token("DISTRICT", "370811", ["inspector"], ttl_s=60)
    verifications = 0
    real = authenticator._verify

    async def counting(*args: Any) -> Any:
        nonlocal verifications
        verifications += 1
        return await real(*args)

    monkeypatch.setattr(authenticator, "_verify", counting)
    for _ in range(5):
        principal = await authenticator.authenticate(f"Bearer {token}")
        assert principal.region_code == "370811"
    assert verifications == 1
    # Past the token's expiry, on the gateway's clock and on PyJWT's, the remembered verification is not used: the
    # token is verified again and refused as expired.
    later = time_module.time() + 61

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.fromtimestamp(later, tz)

    monkeypatch.setattr(tokens.time, "time", lambda: later)
    monkeypatch.setattr(jwt.api_jwt, "datetime", Later)
    assert jwt.decode(token, options={"verify_signature": False})["exp"] < later  # what is presented is expired
    with pytest.raises(AuthenticationError) as refused:
        await authenticator.authenticate(f"Bearer {token}")
    assert refused.value.code == "UNAUTHENTICATED" and refused.value.http_status == 401
    assert "token has expired" in refused.value.message
    assert verifications == 2
