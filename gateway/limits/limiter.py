"""Rate limits in process: every window counter of this gateway process, shared by the cache
entries of their owners, and the admission of one request against the counters that apply.

How one counter decides: :mod:`gateway.limits.window_counter`; how counters reach Redis:
:mod:`gateway.limits.sync`. No Redis command on the request path.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from starlette.types import Send

from gateway.limits.ratelimit_fields import limit_field, policy_field, rate_limited, with_fields
from gateway.limits.window_counter import CounterKey, WindowCounter
from gateway.refusals.problems import Rendered
from policies.limits.rate_limits import KEY_SCOPE, Limits

__all__ = ["CounterKey", "LimitPlan", "Limiter", "WindowCounter"]


class LimitPlan:
    """One owner's counters as a cache entry holds them: for each action, every counter that
    applies (the key's, then the action's), and their ``RateLimit-Policy`` field."""

    __slots__ = ("by_action", "for_key", "key_policy", "policies")

    def __init__(
        self, for_key: tuple[WindowCounter, ...], by_action: dict[str, tuple[WindowCounter, ...]]
    ) -> None:
        self.for_key = for_key
        # Keyed by the request's action name (None: outside the catalog, the key's alone).
        self.by_action: dict[str | None, tuple[WindowCounter, ...]] = {
            action: for_key + own for action, own in by_action.items()
        }
        self.key_policy = policy_field(for_key) if for_key else b""
        self.policies = {action: policy_field(c) for action, c in self.by_action.items()}


class Limiter:
    """Every counter of this process, shared by the cache entries of their owners."""

    def __init__(self, clock: Callable[[], float], *, stale_after: float) -> None:
        self.clock = clock
        self.stale_after = stale_after  # a view older than this asks for an early sync
        self.counters: dict[CounterKey, WindowCounter] = {}
        self.wanted = False  # an early sync is asked for (read by the sync loop)
        self.wake: Callable[[], None] = _nothing  # set by the sync loop

    def plan(self, ws: str, owner: str, limits: Limits) -> LimitPlan:
        counters = {
            scope: tuple(self.counter((ws, owner, scope, w.seconds), w.quota) for w in windows)
            for scope, windows in limits.scopes
        }
        return LimitPlan(counters.pop(KEY_SCOPE, ()), counters)

    def counter(self, key: CounterKey, quota: int) -> WindowCounter:
        found = self.counters.get(key)
        if found is None:
            self.counters[key] = found = WindowCounter(key, quota)
            self.ask()
        if found.quota != quota:  # a changed limit applies to the counts so far
            found.quota = quota
            found.synced = found.fast_until = -math.inf  # granted under the old limit
            self.ask()
        found.used = max(found.used, self.clock())  # held by a new entry: keep it a while
        return found

    def ask(self) -> None:
        if not self.wanted:
            self.wanted = True
            self.wake()

    def admit(self, counters: tuple[WindowCounter, ...], now: float) -> WindowCounter | None:
        """Count the request in every counter, or return the first that refuses it."""
        if len(counters) == 1:  # the common case, and its fast lane (see room), inline
            counter = counters[0]
            if now < counter.fast_until and counter.spent < counter.fast_limit:
                counter.pending += 1
                counter.spent += 1
                counter.used = now
                return None
        fresh_for = self.stale_after
        for counter in counters:
            verdict = counter.room(now, fresh_for)
            if verdict:
                if now - counter.synced > fresh_for:
                    self.ask()  # the view is out of date
                return counter
        for counter in counters:
            counter.pending += 1
            counter.spent += 1
            counter.used = now
            if now - counter.synced > fresh_for:
                self.ask()
        return None

    def answer(
        self, limits: LimitPlan, name: str | None, send: Send, scope_type: str
    ) -> tuple[Rendered | None, Send]:
        """One request of a limited key, for action ``name``: the 429, or a ``send`` that
        adds the ``RateLimit`` fields to the app's answer."""
        counters = limits.by_action.get(name, limits.for_key)
        if not counters:
            return None, send
        now = self.clock()
        refused_by = self.admit(counters, now)
        fields = limits.policies.get(name, limits.key_policy)
        if refused_by is not None:
            return rate_limited(refused_by, counters, fields, now), send
        return None, with_fields(send, fields, limit_field(counters, now), scope_type)


def _nothing() -> None:
    pass
