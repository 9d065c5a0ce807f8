"""How a URL's host is spelled → the one canonical form every check compares: an IP address, or a lower-case ASCII
DNS name without its trailing dot. Also which addresses an IPv6 address reaches in IPv4 (mapped, compatible,
translated, NAT64, 6to4, Teredo, ISATAP), and the addresses that are never callable.

Every spelling the C resolver or a browser would turn into an address is turned into that address here: integer and
short forms (``2852039166``, ``127.1``, ``169.254.43518``), octal and hex parts (``0251.0376.0251.0376``,
``0xa9.0xfe.0xa9.0xfe``), a trailing dot, percent-encoding. What cannot be read unambiguously (a zone id, a host
whose last label is a number but that is no IPv4 address) is refused rather than guessed."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never callable, whatever the allowlist says: "this network" and unspecified, link-local (cloud metadata lives
# there: 169.254.169.254, Tencent's 169.254.0.23), the Alibaba Cloud, Oracle (legacy) and AWS IPv6 metadata
# addresses, multicast, reserved and broadcast. IPv6 spellings of IPv4 addresses are unwrapped by `reach` first.
FORBIDDEN: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "169.254.0.0/16", "100.100.100.200/32", "192.0.0.192/32", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "fe80::/10", "fd00:ec2::254/128", "ff00::/8"))

NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
NAT64_LOCAL_PREFIX_LENGTHS = (48, 56, 64, 96)  # RFC 6052 lengths an operator may carve out of 64:ff9b:1::/48
IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT, RFC 2765
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated; :: and ::1 are not IPv4 addresses
ISATAP_IDENTIFIER = 0x00005EFE  # RFC 5214 interface identifier 0000:5efe (or 0200:5efe) + IPv4 address
ISATAP_IDENTIFIER_MASK = 0xFDFFFFFF  # ignore the universal/local bit

MAX_PERCENT_DECODING = 3
MAX_NAME_LENGTH = 253
LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
IPV4_PART = re.compile(r"^(?:0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$")


class InvalidHost(ValueError):
    """A host that cannot be read as one address or DNS name."""


def parse_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """The address the C library's ``inet_aton`` (and so ``getaddrinfo``) reads from ``text``, if any: one to four
    parts, each decimal, octal (leading 0) or hex (0x); the last part fills the remaining bytes."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(IPV4_PART.match(part) for part in parts):
        return None
    values = [int(part[2:], 16) if part.startswith("0x") else int(part, 8) if part.startswith("0")
              else int(part) for part in parts]
    *leading, last = values
    if any(value > 0xFF for value in leading) or last >= 1 << (8 * (5 - len(values))):
        return None
    number = last
    for index, value in enumerate(leading):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def canonical_host(host: str) -> IPAddress | str:
    """The address ``host`` names, or its canonical DNS name; InvalidHost if it is neither."""
    text = host
    for _ in range(MAX_PERCENT_DECODING):
        if "%" not in text or ":" in text:  # in an IPv6 literal a % starts a zone id, refused below
            break
        text = unquote(text, errors="strict")
    text = text.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        if "%" in text:
            raise InvalidHost(f"{host!r}: IPv6 zone ids are not allowed")
        try:
            return ipaddress.IPv6Address(text)
        except ValueError as exc:
            raise InvalidHost(f"{host!r} is not a valid IPv6 address") from exc
    if text.endswith("."):
        text = text[:-1]
    address = parse_ipv4(text)
    if address is not None:
        return address
    labels = text.split(".")
    if NUMERIC_LABEL.match(labels[-1]):
        raise InvalidHost(f"{host!r} is neither an IPv4 address nor a DNS name")
    if len(text) > MAX_NAME_LENGTH or not all(LABEL.match(label) for label in labels):
        raise InvalidHost(f"{host!r} is not a valid host name")
    return text


def reach(address: IPAddress) -> tuple[IPAddress, ...]:
    """Every address a connection to ``address`` may end up at: an IPv4-mapped address is its IPv4 address; an
    address with an IPv4 address inside (compatible, translated, NAT64, 6to4, Teredo server and client, ISATAP) is
    itself plus each IPv4 address inside it."""
    if isinstance(address, ipaddress.IPv4Address):
        return (address,)
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    number = int(address)
    inside: list[IPAddress] = []
    if (address in IPV4_COMPATIBLE and number > 1) or address in IPV4_TRANSLATED or address in NAT64_WELL_KNOWN:
        inside.append(ipaddress.IPv4Address(number & 0xFFFFFFFF))
    if address in NAT64_LOCAL_USE:  # the operator's prefix length is unknown: every reading RFC 6052 permits
        inside.extend(filter(None, (_rfc6052_ipv4(number, length) for length in NAT64_LOCAL_PREFIX_LENGTHS)))
    if address.sixtofour is not None:
        inside.append(address.sixtofour)
    if address.teredo is not None:
        inside.extend(address.teredo)
    if (number >> 32) & ISATAP_IDENTIFIER_MASK == ISATAP_IDENTIFIER:
        inside.append(ipaddress.IPv4Address(number & 0xFFFFFFFF))
    return (address, *dict.fromkeys(inside))


def _rfc6052_ipv4(number: int, prefix_length: int) -> ipaddress.IPv4Address | None:
    """The IPv4 address embedded after a ``prefix_length``-bit NAT64 prefix, or None where the address cannot be one
    (RFC 6052 §2.2: bits 64-71 and the suffix after the IPv4 address are zero)."""
    bits = format(number, "0128b")
    if prefix_length < 96:
        if "1" in bits[64:72]:
            return None
        bits = bits[:64] + bits[72:]
        if "1" in bits[prefix_length + 32:]:
            return None
    return ipaddress.IPv4Address(int(bits[prefix_length:prefix_length + 32], 2))


def forbidden(address: IPAddress) -> IPAddress | None:
    """The address among those ``address`` reaches that is never callable, if any."""
    for reached in reach(address):
        if any(reached in network for network in FORBIDDEN if network.version == reached.version):
            return reached
    return None
