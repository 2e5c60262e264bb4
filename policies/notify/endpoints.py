"""Where webhooks may go: ``https`` to a public address, anything else only when allowed.

A webhook is a request Keystile makes on a workspace admin's behalf, so an endpoint must
not reach what only the deployment can (SSRF): every address its host resolves to must be
public, unless the deployment lists the host or its network in ``[notify] allow_hosts``
(a local receiver, an internal relay); ``http`` is accepted only for those. The check runs
when the endpoint is set and again on each delivery, and the delivery connects to the very
address checked (DNS cannot change in between).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from policies.errors import ConfigError, KeystileError

MAX_URL = 2000
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# IPv6 addresses that carry an IPv4 one a translator or tunnel reaches (RFC 6052 NAT64,
# IPv4-compatible, SIIT's IPv4-translated): public only if that IPv4 address is.
_CARRIERS = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96"))
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: the network's own layout


class EndpointRefused(KeystileError):
    """A webhook URL Keystile will not call."""


@dataclass(frozen=True, slots=True)
class EndpointPolicy:
    """``allow_hosts``: host names, addresses or networks (``127.0.0.1``, ``10.0.0.0/8``)
    allowed though not public, and over plain ``http``; ``timeout``: each network step."""

    allow_hosts: tuple[str, ...] = ()
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.timeout <= 60:
            raise ConfigError("[notify] timeout must be more than 0 and at most 60 seconds")
        for item in self.allow_hosts:
            if not isinstance(item, str) or not item.strip():
                raise ConfigError("[notify] allow_hosts must be host names or networks")

    def allows_host(self, host: str) -> bool:
        return host.lower() in {h.lower() for h in self.allow_hosts}

    def allows_address(self, address: Address) -> bool:
        for item in self.allow_hosts:
            try:
                if address in ipaddress.ip_network(item, strict=False):
                    return True
            except ValueError:
                continue
        return False


def check_url(url: object, policy: EndpointPolicy) -> SplitResult:
    """The URL's parts if it may be an endpoint (syntax only; :func:`addresses` resolves)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or not url.isprintable():
        raise EndpointRefused(f"the endpoint must be a URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise EndpointRefused("the endpoint is not a valid URL") from None
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise EndpointRefused("the endpoint must be an https:// URL")
    if not url.strip().isascii() or any(c.isspace() for c in url.strip()):
        raise EndpointRefused(
            "the endpoint must be an ASCII URL without spaces (percent-encode the others; "
            "a host name in its xn-- form)"
        )
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("the endpoint must not carry a user name or password")
    if parts.fragment:
        raise EndpointRefused("the endpoint must not have a #fragment")
    if port == 0:
        raise EndpointRefused("the endpoint's port must be 1-65535")
    if parts.scheme == "http" and not _listed(host, policy):
        raise EndpointRefused(
            "the endpoint must use https (plain http only to hosts the deployment allows "
            "in [notify] allow_hosts)"
        )
    return parts


def _listed(host: str, policy: EndpointPolicy) -> bool:
    if policy.allows_host(host):
        return True
    try:
        return policy.allows_address(ipaddress.ip_address(host))
    except ValueError:
        return False


def addresses(parts: SplitResult, policy: EndpointPolicy) -> list[tuple[str, int]]:
    """Every (address, port) the endpoint's host resolves to, all of them allowed: public,
    or listed in ``allow_hosts``; else :class:`EndpointRefused`."""
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise EndpointRefused(f"the endpoint's host {host!r} cannot be resolved") from None
    result: list[tuple[str, int]] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if not (public(address) or policy.allows_host(host) or policy.allows_address(address)):
            raise EndpointRefused(
                f"the endpoint's host {host!r} resolves to a private, loopback or reserved "
                "address; list it in [notify] allow_hosts to allow it"
            )
        if (str(address), port) not in result:
            result.append((str(address), port))
    return result


def public(address: Address) -> bool:
    """Global, and so is any IPv4 address it carries (``is_global`` alone calls NAT64 and
    6to4 spellings of 127.0.0.1 public)."""
    if not address.is_global or isinstance(address, ipaddress.IPv4Address):
        return address.is_global
    if address in _LOCAL_NAT64:
        return False
    carried = address.ipv4_mapped or address.sixtofour
    if carried is None and any(address in network for network in _CARRIERS):
        carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return carried is None or carried.is_global


def allow_list(value: object) -> tuple[str, ...]:
    """``allow_hosts`` from a config table (a list, or one comma-separated string)."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ConfigError("[notify] allow_hosts must be a list of host names or networks")
    return tuple(value)
