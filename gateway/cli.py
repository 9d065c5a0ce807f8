"""The ``yiwang`` command: ``demo`` (gateway + all mock departments), ``serve`` (gateway alone), ``mocks``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from typing import Any

import uvicorn

from gateway.auth.demo import DEFAULT_TOKEN_TTL_S
from gateway.auth.principal import Tier
from gateway.exceptions import ConfigurationError
from gateway.settings import DEFAULT_MOCK_BASE_PORT, DEPARTMENT_PORT_OFFSETS, load_settings, mock_url


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yiwang", description="一网 — one GraphQL endpoint for a city's departments")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="start the gateway with all mock departments (GraphiQL on)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--base-port", type=int, default=DEFAULT_MOCK_BASE_PORT)
    demo.add_argument("--scale", type=float, default=1.0, help="mock data size multiplier (1.0 ≈ 24,000 components)")

    serve = commands.add_parser("serve", help="run the gateway against the department URLs in its settings")
    serve.add_argument("--host", default=None, help="default: YIWANG_HOST")
    serve.add_argument("--port", type=int, default=None, help="default: YIWANG_PORT")
    serve.add_argument("--workers", type=int, default=1)

    mocks = commands.add_parser("mocks", help="run the mock department systems alone")
    _mock_options(mocks)

    token = commands.add_parser("token", help="print a development token signed with the (public) demo key")
    token.add_argument("--tier", required=True, type=str.upper, choices=[t.value for t in Tier if t is not Tier.PUBLIC],
                       help="platform tier (any case)")
    token.add_argument("--region", required=True, help="GB/T 2260 region code fitting the tier, e.g. 370800")
    token.add_argument("--role", dest="roles", action="append", required=True, help="a role; repeat for several")
    token.add_argument("--department", dest="departments", action="append", default=None,
                       help="limit to a department; repeat for several (default: not limited)")
    token.add_argument("--ttl", type=int, default=DEFAULT_TOKEN_TTL_S,
                       help=f"lifetime in seconds (default {DEFAULT_TOKEN_TTL_S})")
    token.add_argument("--subject", default=None, help="the sub claim (default demo-<tier>-<region>)")

    from gateway.registry.cli import add_parser as add_connectors_parser

    add_connectors_parser(commands)
    return parser


def _mock_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=DEFAULT_MOCK_BASE_PORT)
    parser.add_argument("--scale", type=float, default=1.0, help="data size multiplier (50 ≈ 1.2 million components)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--anchor", type=date.fromisoformat, default=None,
                        help="day the data is relative to (YYYY-MM-DD; default today in China)")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "mocks":
            return _run_mocks(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "token":
            return _token(args)
        if args.command == "connectors":
            from gateway.registry.cli import run as run_connectors

            return run_connectors(args)
        return _demo(args)
    except ConfigurationError as exc:
        print(f"yiwang: {exc.message}", file=sys.stderr)
        return 2


def _run_mocks(args: argparse.Namespace) -> int:
    from mocks.city import anchor_from_date
    from mocks.server import serve_mocks

    anchor = anchor_from_date(args.anchor) if args.anchor else None
    asyncio.run(serve_mocks(host=args.host, base_port=args.base_port, scale=args.scale, seed=args.seed,
                            anchor=anchor))
    return 0


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    uvicorn.run("gateway.asgi:app", host=args.host or settings.host, port=args.port or settings.port,
                workers=args.workers, log_level="info", access_log=False)
    return 0


def _token(args: argparse.Namespace) -> int:
    from gateway.auth.demo import mint_token

    try:
        token = mint_token(args.tier, args.region, args.roles, departments=args.departments, ttl_s=args.ttl,
                           subject=args.subject)
    except ValueError as exc:
        print(f"yiwang token: {exc}", file=sys.stderr)
        return 2
    print("development token signed with the public demo key; trusted only in demo mode", file=sys.stderr)
    print(token)
    return 0


def _demo_registry_settings() -> dict[str, Any]:
    """The demo's registry, unless set: in memory with a throw-away key, the mock departments on loopback allowed."""
    import os

    from cryptography.fernet import Fernet

    defaults = {"database_url": "sqlite://", "secret_key": Fernet.generate_key().decode(),
                "connector_allowlist": "127.0.0.1"}
    return {name: value for name, value in defaults.items() if f"YIWANG_{name.upper()}" not in os.environ}


def _demo(args: argparse.Namespace) -> int:
    from gateway.app import create_app
    from gateway.auth.demo import demo_tokens
    from mocks.city import Inventory
    from mocks.server import create_mock_apps, mock_servers

    overrides: dict[str, Any] = {"mode": "demo"}
    overrides.update({f"{name}_url": mock_url(name, args.base_port) for name in DEPARTMENT_PORT_OFFSETS})
    overrides.update(_demo_registry_settings())
    settings = load_settings(**overrides)
    inventory = Inventory(scale=args.scale)
    servers = mock_servers(create_mock_apps(inventory), host="127.0.0.1", base_port=args.base_port)
    gateway = uvicorn.Server(uvicorn.Config(create_app(settings), host=args.host, port=args.port,
                                            log_level="warning", access_log=False))
    print(f"yiwang demo: {len(inventory)} components in 5 mock departments (ports {args.base_port + 1}–"
          f"{args.base_port + 5})", flush=True)
    print(f"GraphiQL: http://{args.host}:{args.port}/graphql", flush=True)
    print("Without a token you see public data only. Paste one of these into GraphiQL's Headers tab as\n"
          '  {"Authorization": "Bearer <token>"}', flush=True)
    for label, token in demo_tokens().items():
        print(f"  {label}: {token}", flush=True)

    async def run() -> None:
        await asyncio.gather(gateway.serve(), *(server.serve() for server in servers))

    from gateway.gc_tuning import tune_garbage_collector

    tune_garbage_collector()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
