"""A key's allowed networks, precompiled once per cached key (:mod:`policies.restrictions`).

``allows(address)`` is one dict probe for an address seen before (a bounded memo per key),
so a restricted key costs a request about what an unrestricted one does.
"""

from __future__ import annotations

import ipaddress

from gateway.keys.client_address import address as parse_address

_MEMO = 256


class AllowedNetworks:
    __slots__ = ("networks", "seen")

    def __init__(self, networks: tuple[str, ...]) -> None:
        """``networks``: normal-form CIDR ranges; empty allows nothing (a damaged record)."""
        self.networks = tuple(ipaddress.ip_network(n) for n in networks)
        # Address -> allowed, probed inline by gateway.keys.checks; unknown address: refused.
        self.seen: dict[str | None, bool] = {None: False}

    def allows(self, client: str | None) -> bool:
        known = self.seen.get(client)
        if known is None:
            found = None if client is None else parse_address(client)
            known = found is not None and any(found in n for n in self.networks)
            if len(self.seen) >= _MEMO:
                self.seen.clear()
                self.seen[None] = False
            self.seen[client] = known
        return known
