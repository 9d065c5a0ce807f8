"""Which URLs registered connectors may call: an operator's allowlist of hosts and CIDRs, never link-local or cloud
metadata addresses, checked at registration and again on every request (redirects included)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

import httpx

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Never callable, whatever the allowlist says: link-local (cloud metadata lives there), the Alibaba/Tencent metadata
# address, unspecified and multicast addresses.
FORBIDDEN: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10", "100.100.100.200/32", "fd00:ec2::254/128", "0.0.0.0/8", "::/128",
    "224.0.0.0/4", "ff00::/8"))


class ForbiddenUrl(httpx.TransportError):
    """A URL outside the allowlist."""


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class Allowlist:
    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: list[IPNetwork] = []
        self.hosts: list[str] = []
        for entry in (e.strip().lower() for e in entries):
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.hosts.append(entry)
        self._resolve = lru_cache(maxsize=256)(_resolve)

    @classmethod
    def parse(cls, text: str) -> Allowlist:
        return cls(text.split(","))

    def _host_listed(self, host: str) -> bool:
        return any(host == entry or (entry.startswith("*.") and host.endswith(entry[1:])) for entry in self.hosts)

    def check(self, url: str) -> None:
        """ForbiddenUrl unless the URL may be called."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise ForbiddenUrl(f"{url!r}: only http(s) URLs with a host")
        literal = _ip(host)
        addresses = [literal] if literal is not None else self._resolve(host)
        for address in addresses:
            if any(address in network for network in FORBIDDEN):
                raise ForbiddenUrl(f"{host} ({address}) is a link-local or metadata address, never allowed")
        if literal is not None:
            if not any(literal in network for network in self.networks if network.version == literal.version):
                raise ForbiddenUrl(f"{host} is not in the connector allowlist")
            return
        if not self._host_listed(host):
            raise ForbiddenUrl(f"{host} is not in the connector allowlist")

    async def on_request(self, request: httpx.Request) -> None:
        """httpx request hook: runs for every request, including each hop of a redirect."""
        self.check(str(request.url))


def _resolve(host: str) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return []
    found = {_ip(str(info[4][0])) for info in infos}
    return [address for address in found if address is not None]
