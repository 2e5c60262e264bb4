"""Where a request comes from, for keys restricted to networks (:mod:`policies.restrictions`).

The ASGI peer (``scope["client"]``), unless that peer is one of the ``trusted_proxies``: then
the right-most address of the forwarding header (``X-Forwarded-For``, or RFC 7239
``Forwarded``) that is not a trusted proxy itself, read from the right: what the client wrote
left of it is never parsed. A peer outside ``trusted_proxies`` is never asked; a malformed
hop where the client's should be leaves the address unknown (None), which no network allows.
Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from typing import Any

from policies.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_MEMO = 1024
_MAX_HOPS = 32  # a longer chain is not one a deployment builds
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
# RFC 7239 node: an IPv4 address, or a bracketed IPv6 one, each with an optional port.
_NODE = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+))(?::[0-9]{1,5})?")


def networks_of(values: Collection[str], what: str = "trusted_proxies") -> tuple[Network, ...]:
    """CIDR ranges, strict (``10.0.0.1/8`` is a typo, refused), or ``ConfigError``; an
    IPv4-mapped range as its IPv4 range, since :func:`address` unmaps the addresses."""
    if isinstance(values, str | bytes) or not isinstance(values, Collection):
        raise ConfigError(f"{what} must be a list of networks, like ['10.0.0.0/8']")
    try:
        return tuple(_unmapped(ipaddress.ip_network(n, strict=True)) for n in values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: {exc}") from None


def _unmapped(network: Network) -> Network:
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        low = int(network.network_address) & 0xFFFFFFFF
        return ipaddress.IPv4Network((low, network.prefixlen - 96))
    return network


def address(text: str) -> Address | None:
    """An address as a request carries it; IPv4-mapped IPv6 as its IPv4 address."""
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


class ClientAddress:
    """``self(scope)``: the client's address as text (normal form), or None: unknown."""

    def __init__(self, trusted_proxies: Collection[str], header: str) -> None:
        self.trusted = networks_of(trusted_proxies)
        self.proxied = bool(self.trusted)  # False: the address is the peer, always
        self.header = header.encode()
        self.forwarded = header == "forwarded"
        self._peers: dict[str, bool] = {}  # peer -> trusted proxy?

    def __call__(self, scope: Any) -> str | None:
        client = scope.get("client")
        if not client:
            return None  # a Unix socket, or a server that does not say
        peer: str = client[0]
        if not self.trusted or not self._is_trusted(peer):
            return peer
        return self.client_of(scope["headers"], peer)

    def _is_trusted(self, peer: str) -> bool:
        known = self._peers.get(peer)
        if known is None:
            found = address(peer)
            known = found is not None and any(found in n for n in self.trusted)
            if len(self._peers) >= _MEMO:
                self._peers.clear()
            self._peers[peer] = known
        return known

    def client_of(self, headers: Any, peer: str | None) -> str | None:
        """The right-most hop of the header (every line of it, in order) that is not a
        trusted proxy; what a client wrote left of it is never read. None when that hop is
        not an address (``unknown``, an obfuscated name, junk) or the trusted hops run past
        ``_MAX_HOPS``; no header: ``peer``; trusted hops only: the farthest."""
        values = [value for name, value in headers if name == self.header]
        text = b",".join(values).decode("latin-1")  # any byte: junk, not an error
        if not text:
            return peer
        entries = text.rsplit(",", _MAX_HOPS)  # the rest stays in entries[0], unread
        farthest: Address | None = None
        for entry in reversed(entries[-_MAX_HOPS:]):
            entry = entry.strip(" \t")
            hop = self._forwarded_for(entry) if self.forwarded else address(entry)
            if hop is None:
                return None
            if not any(hop in network for network in self.trusted):
                return str(hop)
            farthest = hop
        if len(entries) > _MAX_HOPS:
            return None
        return str(farthest)

    @staticmethod
    def _forwarded_for(element: str) -> Address | None:
        """The ``for=`` node of one ``Forwarded`` element (RFC 7239 section 4)."""
        for pair in element.split(";"):
            name, equals, value = pair.strip().partition("=")
            if equals and name.strip().lower() == "for":
                value = value.strip()
                if len(value) > 1 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                match = _NODE.fullmatch(value)
                if match is None:
                    return None
                return address(match.group("v6") or match.group("v4"))
        return None
