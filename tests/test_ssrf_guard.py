"""The connector registry's SSRF guard against every spelling of a forbidden address: registration over the admin API
is refused (FORBIDDEN_URL, with a stable reason) however the address is written — IPv6 forms of IPv4 addresses,
integer/octal/hex/short IPv4, trailing dots, zone ids, percent-encoding — and so is every request and redirect hop a
registered connector makes. DNS names are checked in canonical form at registration and again at connection time
(a rebinding name cannot slip through), and allowlist entries may name a port."""

from __future__ import annotations

import ipaddress
import itertools
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.fernet import Fernet
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.exceptions import ConfigurationError
from gateway.registry.addresses import parse_ipv4
from tests.conftest import MockDepartments, gateway_settings
from tests.served import RedirectingDepartment, ServedGateway, registry_env, served_gateway
from tests.test_registry import ADMIN, GAS_PORT_OFFSET, GAS_SPEC, STATIONS_QUERY

BROAD_ALLOWLIST = "0.0.0.0/0,::/0"
HEADERS = {"authorization": f"Bearer {ADMIN}"}

# Spellings of never-callable addresses (metadata, link-local, unspecified) that a broad allowlist must not admit.
NEVER_ALLOWED_HOSTS = [
    "[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]", "[0:0:0:0:0:ffff:a9fe:a9fe]", "[64:ff9b::a9fe:a9fe]",
    "[64:ff9b::169.254.169.254]", "[::ffff:100.100.100.200]", "[::ffff:0.0.0.0]", "[::ffff:0:0]",
    "[::169.254.169.254]", "[::ffff:0:a9fe:a9fe]",  # IPv4-compatible, IPv4-translated (SIIT)
    "[64:ff9b:1::a9fe:a9fe]", "[64:ff9b:1:a9fe:a9:fe00::]",  # NAT64 local-use, /96 and /48 embeddings
    "[2002:a9fe:a9fe::1]",  # 6to4
    "[2001:0:4136:e378:8000:63bf:5601:5601]",  # Teredo, client 169.254.169.254 obfuscated
    "[2001:0:a9fe:a9fe::1]",  # Teredo, server 169.254.169.254
    "[2001:db8::200:5efe:a9fe:a9fe]",  # ISATAP interface identifier
    "[fe80::1]", "[fd00:ec2::254]", "[::]",
    "2852039166", "0xa9fea9fe", "025177524776", "0251.0376.0251.0376", "0xa9.0xfe.0xa9.0xfe", "0xA9.254.0xa9fe",
    "169.254.43518", "169.16689662", "0", "0.0", "100.100.100.200.", "169.254.169.254.",
    "%31%36%39.254.169.254", "%25%33%31%36%39.254.169.254",
]
INVALID_HOSTS = ["[fe80::1%25eth0]", "[::ffff:a9fe:a9fe%251]", "%5b::ffff:a9fe:a9fe%5d", "1.2.3.4.5", "4294967296",
                 "a..b"]


def gas_spec(base_url: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(GAS_SPEC.read_text(encoding="utf-8"))
    document["base_url"] = base_url
    document.update(changes)
    return document


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["errors"][0]
    return response.status_code, error["extensions"]["code"], error["extensions"].get("details", {}).get("reason")


# --- a served gateway with a broad allowlist ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def broad_gateway(mock_departments: MockDepartments, tmp_path_factory: pytest.TempPathFactory,
                  ) -> Iterator[ServedGateway]:
    directory = tmp_path_factory.mktemp("ssrf")
    with served_gateway(mock_departments, directory, registry_env(directory, BROAD_ALLOWLIST)) as gateway:
        yield gateway


def register(gateway: ServedGateway, spec: dict[str, Any], action: str = "") -> httpx.Response:
    return httpx.post(f"{gateway.url}/admin/connectors{action}", json=spec, headers=HEADERS, timeout=30)


@pytest.mark.parametrize("host", NEVER_ALLOWED_HOSTS)
def test_every_spelling_of_a_never_allowed_address_is_refused_at_registration(broad_gateway: ServedGateway,
                                                                              host: str) -> None:
    for base_url in (f"http://{host}", f"https://{host}:8443/api"):
        for action in ("", "/test"):
            answer = register(broad_gateway, gas_spec(base_url), action)
            assert refusal(answer) == (400, "FORBIDDEN_URL", "never_allowed"), (base_url, action, answer.text)
            assert "Traceback" not in answer.text
    assert "Traceback" not in broad_gateway.log_text()


@pytest.mark.parametrize("host", INVALID_HOSTS)
def test_hosts_that_cannot_be_read_unambiguously_are_refused(broad_gateway: ServedGateway, host: str) -> None:
    answer = register(broad_gateway, gas_spec(f"http://{host}/"))
    assert refusal(answer) == (400, "FORBIDDEN_URL", "invalid_url"), answer.text


def test_absolute_operation_urls_are_checked_at_registration_too(broad_gateway: ServedGateway,
                                                                 mock_departments: MockDepartments) -> None:
    spec = gas_spec(f"http://127.0.0.1:{mock_departments.base_port + GAS_PORT_OFFSET}")
    spec["operations"]["health"]["path"] = "http://[::ffff:a9fe:a9fe]/latest/meta-data/"
    assert refusal(register(broad_gateway, spec)) == (400, "FORBIDDEN_URL", "never_allowed")


def test_a_redirect_to_a_forbidden_spelling_is_not_followed(broad_gateway: ServedGateway) -> None:
    with RedirectingDepartment() as department:
        registered = register(broad_gateway, gas_spec(f"http://127.0.0.1:{department.port}"))
        assert registered.status_code == 201, registered.text
        # each of these reaches the target on this machine (0.0.0.0 is this host) if the redirect is followed
        for location in ("http://[::ffff:0.0.0.0]:{target_port}", "http://[::ffff:0:0]:{target_port}",
                         "http://[0:0:0:0:0:ffff:0:0]:{target_port}", "http://0:{target_port}",
                         "http://0x0.0:{target_port}", "http://%30.0.0.0:{target_port}"):
            department.location = location
            redirects = department.redirects
            answer = httpx.post(f"{broad_gateway.url}/graphql", json={"query": STATIONS_QUERY}, headers=HEADERS,
                                timeout=30).json()
            assert department.redirects > redirects, location  # the department was asked and answered a redirect
            assert department.hits == 0, location  # ... that was never followed
            errors = [e for e in answer["errors"] if e["extensions"].get("department") == "gas"]
            assert errors and errors[0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE", answer
    assert "refused by the allowlist" in broad_gateway.log_text()


# --- in-process gateways: a fake DNS, allowlists with ports ---------------------------------------------------------
class FakeDns:
    """``socket.getaddrinfo`` answering names under ``.ssrf.test`` from a table (one list of addresses per lookup, the
    last repeated) and everything else as the real resolver does."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: Counter[str] = Counter()

    def __call__(self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0,
                 ) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not name.endswith(".ssrf.test"):
            return list(self.real(host, port, family, type, proto, flags))
        answers = self.answers.get(name)
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        addresses = answers[min(self.lookups[name], len(answers) - 1)]
        self.lookups[name] += 1
        number = int(port or 0)
        return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, number, 0, 0)) if ":" in a
                else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, number)) for a in addresses]


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    dns = FakeDns(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    return dns


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def in_process_gateway(stack: AsyncExitStack, mocks: MockDepartments, tmp_path: Path, allowlist: str,
                             ) -> httpx.AsyncClient:
    settings = gateway_settings(mocks, secret_key=Fernet.generate_key().decode(), connector_allowlist=allowlist,
                                cache_enabled=False, registry_drain_s=0.0,
                                database_url=f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    app: Starlette = create_app(settings)
    await stack.enter_async_context(app.router.lifespan_context(app))
    return await stack.enter_async_context(httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=30, headers=HEADERS))


async def test_names_resolving_to_any_forbidden_spelling_are_refused(
        fake_dns: FakeDns, mock_departments: MockDepartments, tmp_path: Path, stack: AsyncExitStack) -> None:
    fake_dns.answers = {"metadata.ssrf.test": [["::ffff:169.254.169.254"]],
                        "mixed.ssrf.test": [["127.0.0.1", "64:ff9b::a9fe:a9fe"]],
                        "zero.ssrf.test": [["::ffff:0.0.0.0"]],
                        "linklocal.ssrf.test": [["fe80::1"]]}
    client = await in_process_gateway(stack, mock_departments, tmp_path, "*.ssrf.test," + BROAD_ALLOWLIST)
    for name in fake_dns.answers:
        for base_url in (f"http://{name}", f"http://{name.upper()}.:8080"):
            answer = await client.post("/admin/connectors", json=gas_spec(base_url))
            assert refusal(answer) == (400, "FORBIDDEN_URL", "never_allowed"), (base_url, answer.text)
            assert "169.254" not in answer.text and "fe80" not in answer.text  # no DNS oracle for operators


async def test_a_name_rebound_after_registration_is_refused_at_connection(
        fake_dns: FakeDns, mock_departments: MockDepartments, tmp_path: Path, stack: AsyncExitStack) -> None:
    client = await in_process_gateway(stack, mock_departments, tmp_path, "*.ssrf.test")
    with RedirectingDepartment() as department:
        fake_dns.answers = {"rebind.ssrf.test": [["127.0.0.1"], ["::ffff:0.0.0.0"]]}  # first answer passes a check
        registered = await client.post("/admin/connectors",
                                       json=gas_spec(f"http://rebind.ssrf.test:{department.target_port}"))
        assert registered.status_code == 201, registered.text
        answer = (await client.post("/graphql", json={"query": STATIONS_QUERY})).json()
        assert fake_dns.lookups["rebind.ssrf.test"] >= 2  # looked up again when connecting
        assert department.hits == 0  # 0.0.0.0 is this host: the connection was never made
        errors = [e for e in answer["errors"] if e["extensions"].get("department") == "gas"]
        assert errors and errors[0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE", answer


async def test_allowlist_entries_may_name_a_port(mock_departments: MockDepartments, tmp_path: Path,
                                                 stack: AsyncExitStack, fake_dns: FakeDns) -> None:
    gas_port = mock_departments.base_port + GAS_PORT_OFFSET
    fake_dns.answers = {"gas.ssrf.test": [["127.0.0.1"]]}
    with RedirectingDepartment() as department:
        client = await in_process_gateway(stack, mock_departments, tmp_path, (
            f"127.0.0.1:{gas_port}, 127.0.0.1:{department.port}, *.ssrf.test:443, 10.0.0.0/8:8080, "
            f"[2001:db8::/32]:443, [::1]:{gas_port}"))
        for base_url, reason in ((f"http://127.0.0.1:{gas_port + 1}", "port_not_allowed"),
                                 (f"http://[::ffff:127.0.0.1]:{gas_port + 1}", "port_not_allowed"),
                                 ("http://127.0.0.1", "port_not_allowed"),
                                 ("http://gas.ssrf.test", "port_not_allowed"),
                                 ("https://gas.ssrf.test:8443", "port_not_allowed"),
                                 ("http://10.1.2.3", "port_not_allowed"),
                                 ("http://[2001:db8::1]:80", "port_not_allowed"),
                                 ("http://[::1]:80", "port_not_allowed"),
                                 ("http://11.1.2.3:8080", "not_allowlisted")):
            answer = await client.post("/admin/connectors", json=gas_spec(base_url))
            assert refusal(answer) == (400, "FORBIDDEN_URL", reason), (base_url, answer.text)
        for base_url in ("https://gas.ssrf.test", f"http://[::ffff:127.0.0.1]:{gas_port}",
                         f"http://127.0.0.1:{gas_port}"):  # the last one stays registered
            answer = await client.post("/admin/connectors", json=gas_spec(base_url))
            assert answer.status_code == 201, (base_url, answer.text)
        served = (await client.post("/graphql", json={"query": STATIONS_QUERY})).json()
        assert "errors" not in served and served["data"]["components"]["totalCount"] > 0, served

        registered = await client.post("/admin/connectors", json=gas_spec(f"http://127.0.0.1:{department.port}"))
        assert registered.status_code == 201, registered.text
        department.location = "http://127.0.0.1:{target_port}"  # an allowed address, on a port not allowed
        answer = (await client.post("/graphql", json={"query": STATIONS_QUERY})).json()
        assert department.redirects > 0 and department.hits == 0
        assert any(e["extensions"].get("department") == "gas" for e in answer["errors"]), answer


@pytest.mark.parametrize("entry", ["10.0.0.0/8:http", "10.0.0.0/8:0", "127.0.0.1:65536", "[2001:db8::/32",
                                   "[2001:db8::/32]443", "10.0.0.0/33", "*.", "*.10.0.0.1", "a b.example",
                                   "1.2.3.4.5", "*.example.gov.cn:"])
def test_an_unreadable_allowlist_entry_stops_the_gateway(mock_departments: MockDepartments, entry: str) -> None:
    with pytest.raises(ConfigurationError, match="YIWANG_CONNECTOR_ALLOWLIST entry"):
        create_app(gateway_settings(mock_departments, connector_allowlist=f"127.0.0.1,{entry}"))


def test_numeric_hosts_are_read_as_the_c_resolver_reads_them() -> None:
    parts = ["0", "00", "7", "255", "256", "0x", "0xff", "0x100", "0377", "0400", "08", "017", "65535", "65536",
             "16777215", "16777216", "4294967295", "4294967296", "0xffffffff", "0x1ffffffff", "1a", ""]
    for count in range(1, 5):
        for combination in itertools.product(parts, repeat=min(count, 2)):
            text = ".".join((*combination, *["1"] * (count - len(combination))))
            try:
                expected: ipaddress.IPv4Address | None = ipaddress.IPv4Address(socket.inet_aton(text))
            except OSError:
                expected = None
            assert parse_ipv4(text) == expected, text
