"""Least privilege for the SDK key and tokens: allow-listed scopes and network ranges.

A scope is ``module.functionality`` (one action), ``module:*`` (the whole module; also
written ``module:write``) or ``module:read`` (the module's functionalities the catalog does
not mark as writing). A network is a CIDR range, IPv4 or IPv6, kept in its normal form
(``10.1.2.3/8`` is ``10.0.0.0/8``; a bare address is its /32 or /128).

``None`` means unrestricted; an empty tuple (only ever from a damaged record) allows nothing.
Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from policies.catalog.catalog import Catalog
from policies.catalog.rules import WILDCARD, Rule, check_name
from policies.errors import CatalogError, KeystileError

MAX_SCOPES = 200
MAX_NETWORKS = 64
READ = "read"
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_LEVELS = {WILDCARD: WILDCARD, "write": WILDCARD, READ: READ}


class RestrictionError(KeystileError):
    """A scope or network that is not valid (its message says why)."""


def parse_scope(text: object) -> str:
    """A scope in its stored form: ``module.functionality``, ``module:*`` or ``module:read``."""
    if not isinstance(text, str):
        raise RestrictionError(f"scope {text!r} is not text")
    value = text.strip()
    module, colon, level = value.partition(":")
    try:
        if colon:
            check_name(module, "module")
            if level not in _LEVELS:
                raise RestrictionError(
                    f"scope {value[:80]!r}: after ':' comes '*', 'read' or 'write' "
                    "(one functionality is written module.functionality)"
                )
            return f"{module}:{_LEVELS[level]}"
        module, dot, functionality = value.partition(".")
        if not dot:
            raise RestrictionError(
                f"scope {value[:80]!r} is not module.functionality, module:* or module:read"
            )
        check_name(module, "module")
        check_name(functionality, "functionality")
    except CatalogError as exc:
        raise RestrictionError(f"scope {value[:80]!r}: {exc}") from None
    return f"{module}.{functionality}"


def scope_rule(scope: str) -> Rule:
    """The (module, functionality or ``*``) a stored scope names, for the catalog's check."""
    if "." in scope:
        module, _, functionality = scope.partition(".")
        return Rule(module, functionality)
    return Rule(scope.partition(":")[0], WILDCARD)


def check_scopes(values: Iterable[object], catalog: Catalog | None = None) -> tuple[str, ...]:
    """Scopes parsed, deduplicated, sorted, bounded; each in ``catalog`` when one is given."""
    scopes = sorted({parse_scope(v) for v in _bounded(values, MAX_SCOPES, "scopes")})
    if not scopes:
        raise RestrictionError("a scope list needs at least one scope")
    if catalog is not None:
        for scope in scopes:
            try:
                catalog.check_rule(scope_rule(scope))
            except CatalogError as exc:
                raise RestrictionError(f"scope {scope}: {exc}") from None
    return tuple(scopes)


def parse_network(text: object) -> str:
    """A CIDR range (or an address) in its normal form."""
    if not isinstance(text, str):
        raise RestrictionError(f"network {text!r} is not text")
    value = text.strip()
    if "%" in value:  # a zone names one host's interface: not a range, and never compared
        raise RestrictionError(f"network {value[:80]!r}: an IPv6 zone (%...) is not a network")
    try:
        network = ipaddress.ip_network(value, strict=False)
        if network.version == 6 and network.subnet_of(_MAPPED):
            # An IPv4-mapped range is the IPv4 range (client addresses are unmapped too).
            low = int(network.network_address) & 0xFFFFFFFF
            return str(ipaddress.IPv4Network((low, network.prefixlen - 96)))
        return str(network)
    except ValueError:
        raise RestrictionError(
            f"network {value[:80]!r} is not a CIDR range like 203.0.113.0/24 or 2001:db8::/32"
        ) from None


def check_networks(values: Iterable[object]) -> tuple[str, ...]:
    """Networks parsed, deduplicated, sorted (IPv4 first), bounded."""
    found = {parse_network(v) for v in _bounded(values, MAX_NETWORKS, "networks")}
    if not found:
        raise RestrictionError("a network list needs at least one network")
    networks = sorted(
        (ipaddress.ip_network(n) for n in found),
        key=lambda n: (n.version, int(n.network_address), n.prefixlen),
    )
    return tuple(str(n) for n in networks)


def _bounded(values: Iterable[object], limit: int, what: str) -> list[object]:
    if isinstance(values, str | bytes):
        raise RestrictionError(f"{what} are a list, not one string")
    items = []
    for value in values:
        items.append(value)
        if len(items) > limit:
            raise RestrictionError(f"at most {limit} {what} per key")
    return items


def stored(data: dict[str, Any], field: str) -> tuple[str, ...] | None:
    """A record's ``scopes`` or ``networks``: None when absent; a damaged value allows
    nothing (an empty tuple) rather than everything."""
    raw = data.get(field)
    if raw is None:
        return None
    try:
        if not isinstance(raw, list):
            raise RestrictionError("not a list")
        return check_scopes(raw) if field == "scopes" else check_networks(raw)
    except RestrictionError:
        return ()


def grants(module: str, functionality: str, writes: bool) -> tuple[str, ...]:
    """The scopes any one of which allows an action (the gateway probes these)."""
    names = (f"{module}.{functionality}", f"{module}:{WILDCARD}")
    return names if writes else (*names, f"{module}:{READ}")


def describe(scopes: tuple[str, ...] | None, networks: tuple[str, ...] | None) -> dict[str, Any]:
    """For audit entries and listings: what the key is restricted to (``any``: not)."""
    return {
        "scopes": list(scopes) if scopes is not None else "any",
        "networks": list(networks) if networks is not None else "any",
    }
