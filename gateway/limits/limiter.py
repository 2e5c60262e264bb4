"""Rate limits in process: every window counter of this gateway process, shared by the cache
entries of their owners, and the admission of one request against the counters that apply.

How one counter decides: :mod:`gateway.limits.window_counter`; how counters reach Redis:
:mod:`gateway.limits.sync`. No Redis command on the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable

from starlette.types import Send

from gateway.limits.ratelimit_fields import (
    POLICY,
    limit_field,
    policy_field,
    rate_limited,
    with_fields,
)
from gateway.limits.window_counter import CounterKey, WindowCounter
from gateway.refusals.problems import RATE_LIMITED, Rendered
from policies.limits.counters import FirstLeases
from policies.limits.rate_limits import KEY_SCOPE, Limits

__all__ = ["HOLD", "CounterKey", "Lane", "LimitPlan", "Limiter", "WindowCounter"]

# Limiter.answer's "wait for the sync that is due" (Limiter.held), never sent.
HOLD = Rendered(RATE_LIMITED, (), b"")


class Lane:
    """The counters one request of an owner counts in (the key's, then its action's), with
    what its answers carry prepared once: the ``RateLimit-Policy`` field as a header, and
    the one counter when there is only one (the common case: a fast lane of its own)."""

    __slots__ = ("counters", "only", "policy")

    def __init__(self, counters: tuple[WindowCounter, ...]) -> None:
        self.counters = counters
        self.only = counters[0] if len(counters) == 1 else None
        self.policy = (POLICY, policy_field(counters))


class LimitPlan:
    """One owner's counters as a cache entry holds them: a :class:`Lane` per limited
    action, and the key's own (None when only actions are limited)."""

    __slots__ = ("for_key", "lanes")

    def __init__(
        self, for_key: tuple[WindowCounter, ...], by_action: dict[str, tuple[WindowCounter, ...]]
    ) -> None:
        self.for_key = Lane(for_key) if for_key else None
        # Keyed by the request's action name (None: outside the catalog, the key's alone).
        self.lanes: dict[str | None, Lane] = {
            action: Lane(for_key + own) for action, own in by_action.items()
        }

    @property
    def counters(self) -> tuple[WindowCounter, ...]:
        """Every counter of the plan, once each."""
        found = {} if self.for_key is None else dict.fromkeys(self.for_key.counters)
        for lane in self.lanes.values():
            found.update(dict.fromkeys(lane.counters))
        return tuple(found)


class Limiter:
    """Every counter of this process, shared by the cache entries of their owners."""

    def __init__(self, clock: Callable[[], float], *, stale_after: float, hold_for: float) -> None:
        self.clock = clock
        self.stale_after = stale_after  # a view older than this asks for an early sync
        self.hold_for = hold_for  # the longest a request waits for a due sync
        self.counters: dict[CounterKey, WindowCounter] = {}
        self.wanted = False  # an early sync is asked for (read by the sync loop)
        self.wake: Callable[[], None] = _nothing  # set by the sync loop
        # What requests held for a sync wait on: the next sync's end (set by the sync loop).
        self.waiting: asyncio.Future[None] | None = None

    def plan(self, ws: str, owner: str, limits: Limits) -> LimitPlan:
        counters = {
            scope: tuple(self.counter((ws, owner, scope, w.seconds), w.quota) for w in windows)
            for scope, windows in limits.scopes
        }
        return LimitPlan(counters.pop(KEY_SCOPE, ()), counters)

    def counter(self, key: CounterKey, quota: int) -> WindowCounter:
        found = self.counters.get(key)
        if found is None:  # its first sync is the lookup's (Limiter.first_seen)
            self.counters[key] = found = WindowCounter(key, quota)
        if found.quota != quota:  # a changed limit applies to the counts so far
            found.quota = quota
            found.synced = found.fast_until = -math.inf  # granted under the old limit
            found.lease_bucket = -1  # so is its lease: the view's split until the next sync
            self.ask()
        found.used = max(found.used, self.clock())  # held by a new entry: keep it a while
        return found

    def first_seen(self, plan: LimitPlan, found: FirstLeases, sent: float) -> None:
        """The leases of a lookup sent at ``sent`` (each new counter's first sync)."""
        for counter in plan.counters:
            if counter.synced == -math.inf:
                first = found.get((counter.key[2], counter.seconds))
                if first is not None:
                    counter.first_seen(*first, sent)

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
        self, plan: LimitPlan, name: str | None, send: Send, scope_type: str
    ) -> tuple[Rendered | None, Send]:
        """One request of a limited key, for action ``name``: the 429, or a ``send`` that
        adds the ``RateLimit`` fields to the app's answer."""
        lane = plan.lanes.get(name, plan.for_key)
        if lane is None:
            return None, send
        now = self.clock()
        counter = lane.only
        # Inline (bench case 10 (b)): one counter in its fast lane (WindowCounter.room) is
        # two comparisons, and its field one integer formatted into a prepared item (what
        # is left never goes below 0 in the fast lane; its ``t`` holds until fast_until).
        if counter is not None and now < counter.fast_until and counter.spent < counter.fast_limit:
            counter.pending += 1
            counter.spent = spent = counter.spent + 1
            limit = counter.timed % (counter.r_base - spent)
            return None, with_fields(send, lane.policy, limit, scope_type)
        counters = lane.counters
        fresh_for = self.stale_after
        for counter in counters:
            if counter.due(now, fresh_for):
                counter.used = now  # active: the next sync carries it
                return HOLD, send
        return self.decide(lane, now, send, scope_type)

    async def held(
        self, plan: LimitPlan, name: str | None, send: Send, scope_type: str
    ) -> tuple[Rendered | None, Send]:
        """:meth:`answer`, once the sync that is due has run (or failed, or ``hold_for``
        passed): the first requests of a key not synced lately wait for that one sync."""
        if self.waiting is None or self.waiting.done():
            self.waiting = asyncio.get_running_loop().create_future()
        waiting = self.waiting
        self.ask()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(waiting), self.hold_for)
        lane = plan.lanes.get(name, plan.for_key)
        assert lane is not None  # answer() found it
        return self.decide(lane, self.clock(), send, scope_type)

    def decide(
        self, lane: Lane, now: float, send: Send, scope_type: str
    ) -> tuple[Rendered | None, Send]:
        counters = lane.counters
        refused_by = self.admit(counters, now)
        if refused_by is not None:
            return rate_limited(refused_by, counters, lane.policy[1], now), send
        return None, with_fields(send, lane.policy, limit_field(counters, now), scope_type)

    def synced(self, waiting: asyncio.Future[None] | None) -> None:
        """A sync ended (either way): the requests that waited for it decide."""
        if waiting is not None and not waiting.done():
            waiting.set_result(None)


def _nothing() -> None:
    pass
