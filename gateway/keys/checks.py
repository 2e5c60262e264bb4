"""What a resolved key may do with one request: its expiry, the publishable key's allowed
origins, then the route's action against the key's rules (each check a refusal or none)."""

from __future__ import annotations

from collections.abc import Callable

from gateway.asgi_scope import caller_origin
from gateway.keys.cached_key import CachedKey
from gateway.refusals.problems import Problems, Rendered, blocked
from gateway.routing.router import Action


class KeyChecks:
    """The checks of a key that carries an expiry, origins or rules (``conditional``)."""

    def __init__(
        self, problems: Problems, clock: Callable[[], float], *, deny_unmatched: bool
    ) -> None:
        self.problems = problems
        self.clock = clock
        self.deny_unmatched = deny_unmatched  # unmatched="deny": restricted keys stay in

    def refusal(
        self,
        entry: CachedKey,
        action: Action | None,
        origin: bytes | None,
        referer: bytes | None,
    ) -> Rendered | None:
        """The first refusal that applies, in order; None when the key may go on."""
        if entry.expires is not None and self.clock() >= entry.expires:
            return self.problems.expired_key
        if entry.origins is not None and caller_origin(origin, referer) not in entry.origins:
            return self.problems.origin_not_allowed
        if action is None:
            if entry.restricted and self.deny_unmatched:
                return self.problems.route_not_in_catalog
            return None
        if action.name in entry.blocked or action.module in entry.blocked_modules:
            return blocked(action.module, action.functionality)
        return None
