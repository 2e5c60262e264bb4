"""What a resolved key may do with one request: its expiry, the publishable key's allowed
origins, the caller's network, then the route's action against the key's scopes and rules
(each check a refusal or none)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.asgi_scope import caller_origin
from gateway.keys.cached_key import CachedKey
from gateway.keys.client_address import ClientAddress
from gateway.refusals.answers import Problems, blocked, not_allowed
from gateway.refusals.problems import Rendered
from gateway.routing.router import REDIRECT, Action


class KeyChecks:
    """The checks of a key that carries an expiry, origins, rules or allow-lists
    (``conditional``)."""

    def __init__(
        self,
        problems: Problems,
        clock: Callable[[], float],
        *,
        deny_unmatched: bool,
        client_address: ClientAddress | None = None,
    ) -> None:
        self.problems = problems
        self.clock = clock
        self.deny_unmatched = deny_unmatched  # unmatched="deny": restricted keys stay in
        # Where a request comes from (gateway.keys.client_address); without one (or without
        # trusted proxies) the peer, read inline.
        self.client_address = client_address
        self.proxied = client_address is not None and client_address.proxied

    def refusal(
        self,
        entry: CachedKey,
        action: Action | None,
        origin: bytes | None,
        referer: bytes | None,
        scope: Any = None,
    ) -> Rendered | None:
        """The first refusal that applies, in order; None when the key may go on.
        ``scope``: the request's, for a key restricted to networks."""
        if entry.expires is not None and self.clock() >= entry.expires:
            return self.problems.expired_key
        if entry.origins is not None and caller_origin(origin, referer) not in entry.origins:
            return self.problems.origin_not_allowed
        networks = entry.networks
        if networks is not None:  # inline (bench case 13): a memo probe, most of the time
            if self.proxied:
                address = self.client_address(scope)  # type: ignore[misc]
            else:
                client = scope.get("client") if scope is not None else None
                address = client[0] if client else None
            allowed = networks.seen.get(address)
            if allowed is None:
                allowed = networks.allows(address)
            if not allowed:
                return self.problems.network_not_allowed
        scopes = entry.scopes
        if action is None:
            # Outside the catalog: an allow-list allows none of it, whatever unmatched says.
            if scopes is not None or (entry.restricted and self.deny_unmatched):
                return self.problems.route_not_in_catalog
            return None
        if (
            scopes is not None
            and action.name not in scopes
            and scopes.isdisjoint(action.grants)
            and action is not REDIRECT
        ):
            return not_allowed(action.module, action.functionality)
        # A module's "*" rule is in blocked too: no rule, no probe.
        if entry.blocked and (
            action.name in entry.blocked or action.module in entry.blocked_modules
        ):
            return blocked(action.module, action.functionality)
        return None
