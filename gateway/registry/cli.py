"""``yiwang connectors …``: validate a spec locally; test, register, list, show, history, rollback, disable and
enable through a running gateway (``--gateway`` / ``YIWANG_GATEWAY_URL``, ``--token`` / ``YIWANG_TOKEN``).
Secrets are never printed: the gateway never returns them, and local output names only their paths."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from connectors.spec.model import ConnectorSpec, load_spec, spec_json_schema
from connectors.spec.problems import SpecInvalid

DEFAULT_GATEWAY = "http://127.0.0.1:8000"
REQUEST_TIMEOUT_S = 60.0


def add_parser(commands: Any) -> None:
    connectors = commands.add_parser("connectors", help="manage declarative connectors (validate, test, register…)")
    connectors.add_argument("--gateway", default=os.environ.get("YIWANG_GATEWAY_URL", DEFAULT_GATEWAY),
                            help="gateway base URL (default: YIWANG_GATEWAY_URL or %(default)s)")
    connectors.add_argument("--token", default=os.environ.get("YIWANG_TOKEN"),
                            help="bearer token (default: YIWANG_TOKEN)")
    connectors.add_argument("--json", action="store_true", help="print the gateway's JSON answer")
    actions = connectors.add_subparsers(dest="action", required=True)
    actions.add_parser("validate", help="check a spec file locally").add_argument("file")
    actions.add_parser("test", help="dry run against the live department, through the gateway").add_argument("file")
    actions.add_parser("register", help="register (or update) a spec").add_argument("file")
    actions.add_parser("list", help="registered and code connectors")
    actions.add_parser("schema", help="print the spec's JSON Schema")
    for name, text in (("show", "the current version"), ("history", "every version with author, time and diff"),
                       ("disable", "disable the department's connector"), ("enable", "enable it again")):
        actions.add_parser(name, help=text).add_argument("department")
    rollback = actions.add_parser("rollback", help="make an earlier version current again")
    rollback.add_argument("department")
    rollback.add_argument("version", type=int)


def run(args: argparse.Namespace) -> int:
    if args.action == "validate":
        return _validate(Path(args.file))
    if args.action == "schema":
        print(json.dumps(spec_json_schema(), ensure_ascii=False, indent=2))
        return 0
    client = _Client(args.gateway, args.token)
    try:
        if args.action in ("test", "register"):
            spec = _load(Path(args.file))
            if spec is None:
                return 2
            body = spec.to_document(reveal=True)  # secrets travel to the gateway, never to the terminal
            path = "/admin/connectors/test" if args.action == "test" else "/admin/connectors"
            answer = client.call("POST", path, body)
            return _print_test(answer, args.json) if args.action == "test" else _print_version(answer, args.json)
        if args.action == "list":
            return _print_list(client.call("GET", "/admin/connectors"), args.json)
        department = args.department
        if args.action == "show":
            return _print_version(client.call("GET", f"/admin/connectors/{department}"), args.json, full=True)
        if args.action == "history":
            return _print_history(client.call("GET", f"/admin/connectors/{department}/history"), args.json)
        if args.action == "rollback":
            answer = client.call("POST", f"/admin/connectors/{department}/rollback", {"version": args.version})
            return _print_version(answer, args.json)
        return _print_version(client.call("POST", f"/admin/connectors/{department}/{args.action}"), args.json)
    except _Failure as failure:
        print(f"yiwang connectors {args.action}: {failure}", file=sys.stderr)
        return failure.exit_code


class _Failure(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Client:
    def __init__(self, gateway: str, token: str | None) -> None:
        self.gateway = gateway.rstrip("/")
        self.headers = {"authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = httpx.request(method, self.gateway + path, json=body, headers=self.headers,
                                     timeout=REQUEST_TIMEOUT_S)
        except httpx.TransportError as exc:
            raise _Failure(f"cannot reach the gateway at {self.gateway} ({type(exc).__name__})") from exc
        try:
            answer = response.json()
        except ValueError as exc:
            raise _Failure(f"the gateway answered HTTP {response.status_code} without JSON") from exc
        if response.status_code >= 400:
            error = (answer.get("errors") or [{}])[0]
            code = error.get("extensions", {}).get("code", "ERROR")
            details = error.get("extensions", {}).get("details")
            lines = [f"{code}: {error.get('message', response.reason_phrase)}"]
            if isinstance(details, list):  # one sentence per problem, each naming its spec key
                lines += [f"  {d.get('message')}" for d in details if isinstance(d, dict)]
            raise _Failure("\n".join(lines))
        return answer


def _load(path: Path) -> ConnectorSpec | None:
    try:
        return load_spec(path)
    except OSError as exc:
        print(f"{path}: {exc.strerror}", file=sys.stderr)
    except SpecInvalid as exc:
        count = f"{len(exc.problems)} problems" if len(exc.problems) != 1 else "1 problem"
        print(f"{path}: not a valid connector spec ({count})", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem.message}", file=sys.stderr)
    except UnicodeDecodeError:
        print(f"{path}: not UTF-8 text", file=sys.stderr)
    return None


def _validate(path: Path) -> int:
    spec = _load(path)
    if spec is None:
        return 2
    operations = spec.operations
    print(f"{path}: valid spec for department {spec.department!r} ({spec.name})")
    print(f"  classes {', '.join(spec.component_classes)} in {', '.join(spec.regions)}; crs {spec.crs}; "
          f"auth {spec.auth.type}; pagination {operations.search_components.pagination.style}")
    if spec.secrets():
        print(f"  secrets (sent encrypted at rest, never shown): {', '.join(spec.secrets())}")
    return 0


def _dump(answer: Any) -> None:
    print(json.dumps(answer, ensure_ascii=False, indent=2))


def _print_version(answer: dict[str, Any], as_json: bool, *, full: bool = False) -> int:
    if as_json:
        _dump(answer)
        return 0
    state = "enabled" if answer["enabled"] else "disabled"
    print(f"{answer['department']} version {answer['version']} ({answer['action']}, {state}) by {answer['author']} "
          f"at {answer['created_at']}")
    if answer["action"] == "register":
        print(f"  first version of {answer['department']}: {answer['spec']['name']} at {answer['spec']['base_url']}")
    for change in answer.get("diff", []) if answer["action"] != "register" else []:
        print(f"  {change['path']}: {json.dumps(change['old'], ensure_ascii=False)} → "
              f"{json.dumps(change['new'], ensure_ascii=False)}")
    if full:
        _dump(answer["spec"])
    return 0


def _print_history(answer: dict[str, Any], as_json: bool) -> int:
    if as_json:
        _dump(answer)
        return 0
    for version in answer["versions"]:
        extra = f" to version {version['rolled_back_to']}" if version.get("rolled_back_to") else ""
        print(f"v{version['version']:<3} {version['created_at']}  {version['action']}{extra:<14} "
              f"{'enabled ' if version['enabled'] else 'disabled'} {version['author']}  "
              f"({len(version['diff'])} changes)")
    return 0


def _print_list(answer: dict[str, Any], as_json: bool) -> int:
    if as_json:
        _dump(answer)
        return 0
    for row in answer["registered"]:
        print(f"{row['department']:<14} spec v{row['version']:<3} {'enabled' if row['enabled'] else 'disabled':<9}"
              f"{'active' if row['active'] else 'inactive':<9} {row['author']} {row['created_at']}")
    for row in answer["code"]:
        print(f"{row['department']:<14} code     {row['class']}")
    return 0


def _print_test(answer: dict[str, Any], as_json: bool) -> int:
    if as_json:
        _dump(answer)
        return 0 if answer["ok"] else 1
    print(f"{answer['department']}: {'OK' if answer['ok'] else 'PROBLEMS FOUND'} ({answer['sampled']} records sampled)")
    for step in answer["steps"]:
        print(f"  [{'ok' if step['ok'] else 'FAIL'}] {step['step']}: {step['detail']}")
    for problem in answer["problems"]:
        example = f" e.g. {problem['example']}" if problem.get("example") else ""
        print(f"  {problem['kind']}: {problem['field']}: {problem['message']} ({problem['records']} records){example}")
    if answer["unmapped_fields"]:
        print(f"  department fields not mapped: {', '.join(answer['unmapped_fields'])}")
    return 0 if answer["ok"] else 1
