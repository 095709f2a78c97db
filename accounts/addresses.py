"""Client addresses: who is calling, behind which proxies, and how addresses are counted.

The client address is found by walking the forwarding chain from the nearest hop back
(RFC 7239 §5.2, §7.4; MDN "X-Forwarded-For", "Selecting an IP address"): the TCP peer first;
if it is one of our trusted proxies, the right-most address its header names, and so on; the
first address that is not a trusted proxy is the client. A client can write anything at the
*left* of the chain, never at its right, so the left-most entry is never believed.

- Only one header is believed, the one the proxies are configured to write
  (``X-Forwarded-For`` or ``Forwarded``): a proxy that appends to one passes the other on as
  the client sent it, so believing both would let a client forge its address.
- A header may come as several lines (HAProxy appends its own line to the one the client
  sent); the lines are one list in order (RFC 9110 §5.3), so every line counts.
- Headers count only when the peer is a trusted proxy; without trusted proxies they are
  ignored.

Rate limits count an IPv6 client by its /64, the smallest block one subscriber gets
(RFC 6177): one household changing its interface identifier is still one caller.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

X_FORWARDED_FOR = "x-forwarded-for"
FORWARDED = "forwarded"
FORWARDING_HEADERS = (X_FORWARDED_FOR, FORWARDED)
# The prefix length an IPv6 caller is counted by.
IPV6_COUNTED_PREFIX = 64

# RFC 7239 §4: for=<node>; a node is an IPv4 address, a bracketed IPv6 address (quoted), an
# optional port, or "unknown" / an obfuscated identifier (which names no address).
_FOR_PAIR = re.compile(r'(?:^|;)\s*for\s*=\s*("[^"]*"|[^;,\s]*)', re.IGNORECASE)


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """CIDR strings as networks (``ValueError`` names a bad one)."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def parse_address(text: str) -> Address | None:
    """An address without brackets or port, or None; IPv4-mapped IPv6 reads as IPv4."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: Address, networks: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def x_forwarded_for_hops(lines: Iterable[str]) -> list[str]:
    """Every hop of every ``X-Forwarded-For`` line, left to right."""
    return [hop.strip() for line in lines for hop in line.split(",") if hop.strip()]


def forwarded_hops(lines: Iterable[str]) -> list[str]:
    """The ``for=`` node of every element of every ``Forwarded`` line, left to right; an
    element without one is ``unknown`` (RFC 7239 §6.3)."""
    hops: list[str] = []
    for line in lines:
        for element in _split_elements(line):
            match = _FOR_PAIR.search(element)
            hops.append(_node_address(match.group(1)) if match else "unknown")
    return hops


def _split_elements(line: str) -> list[str]:
    """Split at commas outside quoted strings (RFC 7239 §4)."""
    elements: list[str] = []
    current: list[str] = []
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            elements.append("".join(current))
            current = []
        else:
            current.append(char)
    elements.append("".join(current))
    return [element for element in elements if element.strip()]


def _node_address(node: str) -> str:
    """The address of an RFC 7239 node (``1.2.3.4``, ``"1.2.3.4:80"``, ``"[2001:db8::1]:80"``)."""
    node = node.strip().strip('"')
    if node.startswith("["):
        return node[1 : node.find("]")] if "]" in node else node
    if node.count(":") == 1:  # IPv4 with a port
        return node.partition(":")[0]
    return node


def client_address(
    peer: str,
    *,
    hops: Sequence[str],
    trusted_proxies: Sequence[Network],
) -> str:
    """The caller's address: ``peer`` is the TCP peer, ``hops`` the believed header's chain
    (left to right). Walks right to left past trusted proxies (see the module docstring)."""
    current = peer
    address = parse_address(peer)
    if address is None or not trusted_proxies or not in_networks(address, trusted_proxies):
        return str(address) if address is not None else peer
    for hop in reversed(hops):
        hop_address = parse_address(hop)
        if hop_address is None:
            # A trusted proxy wrote no address ("unknown", obfuscated or garbage): the client
            # is not known, so the nearest known hop is all we can name.
            return current
        current = str(hop_address)
        if not in_networks(hop_address, trusted_proxies):
            return current
    return current


def header_hops(header: str, lines: Iterable[str]) -> list[str]:
    """The chain of ``header`` (``x-forwarded-for`` or ``forwarded``) from its lines."""
    return forwarded_hops(lines) if header == FORWARDED else x_forwarded_for_hops(lines)


def counted_as(address: str) -> str:
    """How rate limits count ``address``: an IPv4 address as itself, IPv6 by its /64."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, IPV6_COUNTED_PREFIX), strict=False))
    return address if parsed is None else str(parsed)


def allowed_by(address: str, cidrs: Sequence[str]) -> bool:
    """Whether ``address`` is in one of ``cidrs``; an empty list allows every address."""
    if not cidrs:
        return True
    parsed = parse_address(address)
    if parsed is None:
        return False
    try:
        networks = parse_networks(cidrs)
    except ValueError:
        return False
    return in_networks(parsed, networks)


@dataclass(frozen=True, slots=True)
class Forwarding:
    """Which proxies are believed (``LOKET_TRUSTED_PROXIES``) and which header they write
    (``LOKET_FORWARDED_HEADER``)."""

    trusted_proxies: tuple[Network, ...] = ()
    header: str = X_FORWARDED_FOR

    def __post_init__(self) -> None:
        if self.header not in FORWARDING_HEADERS:
            raise ValueError(f"the forwarding header is one of {', '.join(FORWARDING_HEADERS)}")

    def client(self, peer: str | None, header_lines: Sequence[str]) -> str:
        """The client's address, from the TCP ``peer`` and every line of ``self.header``."""
        return client_address(
            peer or "0.0.0.0",  # noqa: S104 - a placeholder address, not a bind
            hops=header_hops(self.header, header_lines),
            trusted_proxies=self.trusted_proxies,
        )
