"""Which URLs registered connectors may call: an operator's allowlist of hosts and CIDRs, each optionally limited to
one port, and never a link-local, metadata, unspecified or multicast address, however it is spelled.

Entries of ``YIWANG_CONNECTOR_ALLOWLIST`` (comma-separated): ``host``, ``*.suffix`` (any name under suffix), an IPv4
address or CIDR, an IPv6 address or CIDR (bare, or in brackets), each with an optional ``:port`` — ``10.0.0.0/8:8080``,
``*.example.gov.cn:443``, ``[2001:db8::/32]:443``. Without a port an entry admits every port.

Every host is brought to its canonical form first (gateway/registry/addresses.py). An IP address is admitted when every
address it reaches (an IPv6 spelling of an IPv4 address reaches that IPv4 address) lies in a listed network with a
matching port; a DNS name when it is listed, and then only while it resolves to no forbidden address. URLs are checked
at registration (names resolved there too) and on every request and redirect hop (`on_request`, called by
the registry clients' transport, ``egress.GuardedTransport``); the address
actually connected to is checked again at connection time (gateway/registry/egress.py), so a name that changes its
answer after the check (DNS rebinding) is refused too."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from connectors.values import is_ascii_digits
from gateway.exceptions import ConfigurationError
from gateway.registry.addresses import InvalidHost, IPAddress, IPNetwork, canonical_host, forbidden, reach

logger = logging.getLogger("yiwang.registry")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_PORT = 65535
DNS_TIMEOUT_S = 5.0


class ForbiddenUrl(httpx.TransportError):
    """A URL a connector may not call; ``reason`` is stable: invalid_url, never_allowed, not_allowlisted or
    port_not_allowed."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Entry:
    network: IPNetwork | None = None
    name: str | None = None  # an exact name, or ".suffix" for "*.suffix"
    port: int | None = None

    def matches_address(self, address: IPAddress) -> bool:
        return self.network is not None and self.network.version == address.version and address in self.network

    def matches_name(self, name: str) -> bool:
        if self.name is None:
            return False
        return name.endswith(self.name) if self.name.startswith(".") else name == self.name

    def admits_port(self, port: int) -> bool:
        return self.port is None or self.port == port


def parse_entry(text: str) -> Entry:
    """One allowlist entry; ConfigurationError if it is not one."""
    def invalid(why: str) -> ConfigurationError:
        return ConfigurationError(f"YIWANG_CONNECTOR_ALLOWLIST entry {text!r}: {why}")

    host, port_text = text, None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise invalid("write an IPv6 address or CIDR with a port as [2001:db8::/32]:443")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    port = None
    if port_text is not None:
        if not is_ascii_digits(port_text) or not 1 <= int(port_text) <= MAX_PORT:
            raise invalid(f"the port must be a number from 1 to {MAX_PORT}")
        port = int(port_text)
    if "/" in host:
        try:
            return Entry(network=ipaddress.ip_network(host, strict=False), port=port)
        except ValueError as exc:
            raise invalid(f"not a CIDR ({exc})") from exc
    wildcard = host.startswith("*.")
    try:
        canonical = canonical_host(_idna(host[2:] if wildcard else host))
    except InvalidHost as exc:
        raise invalid(str(exc)) from exc
    if isinstance(canonical, str):
        return Entry(name=f".{canonical}" if wildcard else canonical, port=port)
    if wildcard:
        raise invalid("a wildcard needs a DNS name after *.")
    return Entry(network=ipaddress.ip_network(canonical), port=port)


def _idna(host: str) -> str:
    """The ASCII form httpx gives a host, so an entry and a URL are compared in the same spelling."""
    if host.isascii():
        return host
    try:
        return httpx.URL(f"http://{host}/").host
    except httpx.InvalidURL as exc:
        raise InvalidHost(f"{host!r} is not a valid host name") from exc


class Allowlist:
    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = [parse_entry(e) for e in (text.strip().lower() for text in entries) if e]

    @classmethod
    def parse(cls, text: str) -> Allowlist:
        return cls(text.split(","))

    def check(self, url: str | httpx.URL) -> None:
        """ForbiddenUrl unless the URL may be called, judged on its spelling alone (no DNS)."""
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except httpx.InvalidURL as exc:
            _refuse_unreadable(str(url))
            raise ForbiddenUrl(f"{str(url)!r} is not a valid URL: {exc}", "invalid_url") from exc
        if parsed.scheme not in DEFAULT_PORTS or not parsed.host:
            raise ForbiddenUrl(f"{str(url)!r}: only http(s) URLs with a host", "invalid_url")
        self.check_endpoint(parsed.host, parsed.port or DEFAULT_PORTS[parsed.scheme])

    def check_endpoint(self, host: str, port: int) -> IPAddress | str:
        """The canonical form of ``host`` if it may be called on ``port``; ForbiddenUrl if not."""
        try:
            canonical = canonical_host(host)
        except InvalidHost as exc:
            raise ForbiddenUrl(str(exc), "invalid_url") from exc
        if isinstance(canonical, str):
            self._admit([entry for entry in self.entries if entry.matches_name(canonical)], canonical, port)
            return canonical
        self.check_addresses(host, [canonical], literal=True)
        for reached in reach(canonical):
            self._admit([entry for entry in self.entries if entry.matches_address(reached)], canonical, port,
                        f" ({host} reaches {reached})" if reached != canonical else "")
        return canonical

    def _admit(self, matching: Sequence[Entry], host: object, port: int, detail: str = "") -> None:
        if not matching:
            raise ForbiddenUrl(f"{host}{detail} is not in the connector allowlist", "not_allowlisted")
        if not any(entry.admits_port(port) for entry in matching):
            raise ForbiddenUrl(f"port {port} of {host}{detail} is not in the connector allowlist", "port_not_allowed")

    @staticmethod
    def check_addresses(host: str, addresses: Iterable[IPAddress], *, literal: bool = False) -> None:
        """ForbiddenUrl if any of the addresses ``host`` stands for reaches a never-callable address."""
        for address in addresses:
            bad = forbidden(address)
            if bad is None:
                continue
            logger.warning("connector URL host %s refused: %s reaches %s", host, address, bad)
            if literal:
                shown = f"{host} ({bad})" if str(bad) != host else host
                raise ForbiddenUrl(f"{shown} is a link-local or metadata address (or unspecified, multicast), "
                                   f"never allowed", "never_allowed")
            raise ForbiddenUrl(f"{host} resolves to a link-local or metadata address (or unspecified, multicast), "
                               f"never allowed", "never_allowed")

    async def vet(self, url: str) -> None:
        """`check`, and for a DNS name also what it resolves to now (a name that does not resolve yet passes: it is
        checked again whenever a connection is made)."""
        self.check(url)
        parsed = httpx.URL(url)
        host = canonical_host(parsed.host)
        if isinstance(host, str):
            self.check_addresses(host, await resolve(host, parsed.port or DEFAULT_PORTS[parsed.scheme]))

    async def on_request(self, request: httpx.Request) -> None:
        """Check one request; ``egress.GuardedTransport`` calls it for every request, each redirect hop included."""
        try:
            self.check(request.url)
        except ForbiddenUrl:
            logger.warning("connector request to %s refused by the allowlist", request.url.copy_with(query=None))
            raise


def _refuse_unreadable(url: str) -> None:
    """A URL httpx cannot read (``0251.0376.0251.0376``: it wants canonical dotted quads) is refused either way; say
    never_allowed if what it spells is a never-callable address, so the operator learns the real reason."""
    try:
        address = canonical_host(urlsplit(url).hostname or "")
    except (InvalidHost, ValueError):
        return
    if not isinstance(address, str):
        Allowlist.check_addresses(str(urlsplit(url).hostname), [address], literal=True)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to, in the resolver's order; [] if it does not resolve."""
    try:
        async with asyncio.timeout(DNS_TIMEOUT_S):
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        return []
    found: dict[IPAddress, None] = {}
    for info in infos:
        try:
            found[ipaddress.ip_address(str(info[4][0]).partition("%")[0])] = None
        except ValueError:
            continue
    return list(found)
