"""Rate limits, decided in process: sliding-window counters that Redis keeps in step.

Each (owner, scope, window) has one :class:`WindowCounter` per gateway process. Its view:
the shared totals of the current and previous fixed bucket of the window, as of the last
sync (:mod:`gateway.limit_sync`), plus what this process admitted since (``pending``, and
``sending`` while a sync is under way). A request is admitted when

1. the sliding estimate ``previous * (1 - elapsed/window) + current + mine + 1`` stays
   within the quota (the weighted previous window of Cloudflare and Unkey), and
2. this process stays within its lease: what the store granted it at its last sync, its
   even share of what is left but never more than the other live processes' leases leave
   (:data:`policies.rate_counters.SYNC`), so together they cannot pass the quota between
   syncs, however these interleave. Without a fresh lease (a counter just seen, Redis
   away) the process splits what its own view says is left by the process count and rank
   it last knew.

No Redis command on the request path: a counter seen for the first time, one whose view
is older than a few sync intervals and a process whose share ran out while the quota has
room ask the sync loop for an early sync instead. Only admitted requests count.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from gateway.ratelimit_fields import policy_field
from policies.limits import KEY_SCOPE, Limits
from policies.rate_counters import Tally, Totals

CounterKey = tuple[str, str, str, int]  # workspace, owner, scope, window seconds
# Weights are floats: 3 * (1 - 1/3) must count as 2, not 2.0000000000000004.
_EPSILON = 1e-9


class WindowCounter:
    __slots__ = (
        "bucket",
        "current",
        "key",
        "lease",
        "lease_bucket",
        "lease_into",
        "lease_previous",
        "name",
        "pending",
        "pending_previous",
        "previous",
        "processes",
        "quota",
        "rank",
        "seconds",
        "sending",
        "spent",
        "synced",
        "used",
    )

    def __init__(self, key: CounterKey, quota: int) -> None:
        self.key = key
        self.seconds = key[3]
        self.quota = quota
        self.name = f"{'key' if key[2] == KEY_SCOPE else key[2]}-{key[3]}s"  # header name
        self.bucket = -1
        self.current = 0  # shared total of this bucket at the last sync (ours included)
        self.previous = 0  # shared total of the previous bucket
        self.pending = 0  # admitted here since the last sync's snapshot
        self.pending_previous = 0  # admitted in the previous bucket, not yet synced
        self.sending = 0  # taken by a sync under way
        self.processes = 1
        self.rank = 0
        self.lease = 0  # what this process may admit until its next sync (from the store)
        self.spent = 0  # admitted since the lease was granted
        # The previous bucket's total and how far into the bucket the lease was granted:
        # what the previous bucket's weight frees after that grows the lease (below).
        self.lease_previous = 0
        self.lease_into = 0.0
        self.lease_bucket = -1
        self.synced = -math.inf  # clock time of the last successful sync
        self.used = -math.inf

    def roll(self, bucket: int) -> None:
        if bucket == self.bucket + 1:  # what we know of the bucket that ended
            self.previous = self.current + self.pending + self.sending
            self.pending_previous, self.pending = self.pending, 0
        else:
            self.previous = self.pending_previous = self.pending = 0
        self.current = 0
        self.bucket = bucket

    def estimate(self, now: float) -> float:
        """The sliding-window count now: shared view plus this process's unsynced counts."""
        bucket = int(now // self.seconds)
        if bucket != self.bucket:
            self.roll(bucket)
        # now - start is exact; now / seconds is not, at 1.8e9 (off by 4e-9).
        weight = 1.0 - (now - bucket * self.seconds) / self.seconds
        return self.previous * weight + self.current + self.pending + self.sending

    def room(self, now: float, fresh_for: float) -> int:
        """0: admit; 1: the quota is reached; 2: this process's share of it is."""
        mine = self.pending + self.sending
        shared = self.estimate(now) - mine
        if shared + mine + 1 > self.quota + _EPSILON:
            return 1
        if now - self.synced <= fresh_for:  # a lease from a recent sync: the exact split
            # Plus this process's share of what the previous bucket's decaying weight has
            # freed since (every process takes 1/N of it, so together no more than freed;
            # after a roll-over our view of the ended bucket is a lower bound of it).
            into = (now - self.bucket * self.seconds) / self.seconds
            if self.bucket == self.lease_bucket:
                freed = self.lease_previous * (into - self.lease_into)
            else:
                freed = self.previous * into
            allowed = self.lease + freed / self.processes
            return 0 if self.spent + 1 <= allowed + _EPSILON else 2
        # No fresh lease (a counter just seen, or Redis away): split what this process's
        # view says is left, by the process count and rank it last knew.
        processes = self.processes
        if processes > 1:
            left = int(self.quota - shared + _EPSILON)
            share = left // processes + (1 if self.rank < left % processes else 0)
            if mine + 1 > share:
                return 2
        return 0

    def remaining(self, now: float) -> int:
        return max(0, math.floor(self.quota - self.estimate(now) + _EPSILON))

    def reset_in(self, now: float) -> int:
        """Seconds until the current bucket ends (RateLimit's ``t`` while there is room)."""
        return max(1, math.ceil((self.bucket + 1) * self.seconds - now))

    def retry_in(self, now: float) -> int:
        """Seconds until one more request fits, if nothing else is admitted meanwhile."""
        quota, w = self.quota, self.seconds
        current = self.current + self.pending + self.sending
        into = (now - self.bucket * w) / w  # fraction of the bucket gone
        if current <= quota - 1:
            if self.previous <= 0:
                return 1
            needed = 1.0 - (quota - 1 - current) / self.previous  # fraction when it fits
            wait = (needed - into) * w
        else:  # not before the next bucket, once this one's weight has decayed enough
            wait = (1.0 - into) * w + w * (1.0 - (quota - 1) / current)
        return max(1, math.ceil(wait))

    # -- syncing (gateway.limit_sync) ---------------------------------------------------
    def tally(self) -> Tally:
        self.sending += self.pending
        self.pending = 0
        ws, owner, scope, seconds = self.key
        add_previous, self.pending_previous = self.pending_previous, 0
        return Tally(ws, owner, scope, seconds, self.bucket, self.quota, self.sending, add_previous)

    def synced_with(self, tally: Tally, totals: Totals, now: float) -> None:
        self.sending = 0
        if tally.bucket == self.bucket:
            self.current, self.previous = totals.current, totals.previous
        elif tally.bucket == self.bucket - 1:
            self.previous = totals.current  # rolled over meanwhile: the ended bucket's total
        self.processes = max(1, totals.processes)
        self.rank = totals.rank
        self.lease = totals.lease
        self.lease_previous = self.previous  # the bucket before ours, as just synced
        self.lease_into = (now - self.bucket * self.seconds) / self.seconds
        self.lease_bucket = self.bucket
        # What was admitted during the round trip came out of the old lease; count it
        # against the new one too (which did not know of it): never more, at worst less.
        self.spent = self.pending + self.pending_previous
        self.synced = now

    def unsynced(self, tally: Tally) -> None:
        """A sync failed: its counts go back (to the previous bucket if this one rolled)."""
        if tally.bucket == self.bucket:
            self.pending += self.sending
        elif tally.bucket == self.bucket - 1:
            self.pending_previous += self.sending
        self.sending = 0


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
            found.synced = -math.inf  # its lease was granted under the old limit
            self.ask()
        found.used = max(found.used, self.clock())  # held by a new entry: keep it a while
        return found

    def ask(self) -> None:
        if not self.wanted:
            self.wanted = True
            self.wake()

    def admit(self, counters: tuple[WindowCounter, ...], now: float) -> WindowCounter | None:
        """Count the request in every counter, or return the first that refuses it."""
        fresh_for = self.stale_after
        for counter in counters:
            verdict = counter.room(now, fresh_for)
            if verdict:
                if verdict == 2 or now - counter.synced > self.stale_after:
                    self.ask()  # the split, or the view, may be out of date
                return counter
        for counter in counters:
            counter.pending += 1
            counter.spent += 1
            counter.used = now
            if now - counter.synced > self.stale_after:
                self.ask()
        return None


def _nothing() -> None:
    pass
