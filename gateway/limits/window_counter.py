"""One rate-limit window of one owner, counted in process and kept in step with Redis.

Each (owner, scope, window) has one :class:`WindowCounter` per gateway process. Its view:
the shared totals of the current and previous fixed bucket of the window, as of the last
sync (:mod:`gateway.limits.sync`), plus what this process admitted since (``pending``, and
``sending`` while a sync is under way). A request is admitted when

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import math

import http_sf

from policies.limits.counters import Tally, Totals
from policies.limits.rate_limits import KEY_SCOPE

CounterKey = tuple[str, str, str, int]  # workspace, owner, scope, window seconds
# Weights are floats: 3 * (1 - 1/3) must count as 2, not 2.0000000000000004.
EPSILON = 1e-9


_R, _T = 111_111_111_111, 222_222_222_222  # placeholders no real value can collide with


def item_template(name: str, *, r: str = "%d", t: str = "%d") -> bytes:
    """A ``RateLimit`` item serialised by ``http-sf`` once, with placeholder integers made
    ``%d`` (or what ``r`` and ``t`` say): a request then only formats an integer (plain
    digits in Structured Fields) into its place, for serialising costs 6 us and a hit has
    fewer to spend."""
    text = http_sf.ser([(name, {"r": _R, "t": _T})]).replace("%", "%%")  # type: ignore[list-item]
    return text.replace(str(_R), r).replace(str(_T), t).encode("ascii")


class WindowCounter:
    __slots__ = (
        "away",
        "bucket",
        "bucket_end",
        "current",
        "fast_limit",
        "fast_until",
        "key",
        "lease",
        "lease_bucket",
        "name",
        "pending",
        "pending_previous",
        "previous",
        "processes",
        "quota",
        "r_base",
        "rank",
        "seconds",
        "sending",
        "spent",
        "synced",
        "t_next",
        "template",
        "timed",
        "timing",
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
        self.lease_bucket = -1  # the bucket its lease was granted in (-1: none)
        self.synced = -math.inf  # clock time the last successful sync was sent at
        self.away = False  # its last sync failed (Redis away), not merely late
        self.used = -math.inf
        # Until fast_until, fast_limit admissions pass on two comparisons (decide()).
        self.bucket_end = 0.0
        self.fast_limit = 0
        self.fast_until = -math.inf
        self.template = item_template(self.name)
        # The field of an admission, prepared once per state: ``timing`` % t is the item
        # with ``t`` in place (``timed``, until ``t_next``), which leaves ``r`` to format;
        # r is r_base - spent (r_base: set by decide()).
        self.timing = item_template(self.name, r="%%d")
        self.timed = self.timing % 0
        self.t_next = -math.inf
        self.r_base = 0

    def roll(self, bucket: int) -> None:
        if bucket == self.bucket + 1:  # what we know of the bucket that ended
            self.previous = self.current + self.pending + self.sending
            self.pending_previous, self.pending = self.pending, 0
        else:
            self.previous = self.pending_previous = self.pending = 0
        self.current = 0
        self.bucket = bucket
        self.bucket_end = float((bucket + 1) * self.seconds)
        self.fast_until = self.t_next = -math.inf

    def estimate(self, now: float) -> float:
        """The sliding-window count now: shared view plus this process's unsynced counts."""
        bucket = int(now // self.seconds)
        if bucket != self.bucket:
            self.roll(bucket)
        # now - start is exact; now / seconds is not, at 1.8e9 (off by 4e-9).
        weight = 1.0 - (now - bucket * self.seconds) / self.seconds
        return self.previous * weight + self.current + self.pending + self.sending

    def room(self, now: float, fresh_for: float) -> int:
        """0: admit; 1: the quota is reached; 2: this process's share of it is.

        The hit path of a limited key: while the last full decision's margin lasts (until
        the next sync, roll-over or ``fast_limit`` admissions) two comparisons decide.
        Stale margins only err low: the weight of the previous bucket only decays.
        """
        if now < self.fast_until and self.spent < self.fast_limit:
            return 0
        return self.decide(now, fresh_for)

    def decide(self, now: float, fresh_for: float) -> int:
        seconds = self.seconds
        bucket = int(now // seconds)
        if bucket != self.bucket:
            self.roll(bucket)
        # now - start is exact; now / seconds is not, at 1.8e9 (off by 4e-9).
        into = (now - bucket * seconds) / seconds
        mine = self.pending + self.sending
        shared = self.previous * (1.0 - into) + self.current
        left = self.quota - shared - mine  # before this request
        spent = self.spent
        self.r_base = math.floor(left + spent + EPSILON)  # field() counts down from here
        if left < 1.0 - EPSILON:
            return 1
        if now - self.synced <= fresh_for:  # a lease from a recent sync: the exact split
            # (What the previous bucket's decaying weight frees reaches every process at its
            # next sync: a lease grown by it between syncs would have no reservation.)
            if spent >= self.lease:
                return 2
            self.fast_limit = min(self.lease, spent + int(left + EPSILON))
            if now >= self.t_next:
                self.retime(now)
            # Until the lease goes stale, the bucket ends or the field's t changes.
            self.fast_until = min(self.synced + fresh_for, self.t_next)
            return 0
        # No fresh lease. Not synced lately (idle, or this process's loop late): the others
        # count it out, and take its lease back, from the very time it went stale, so the
        # request waited for a sync (Limiter.held); if that did not come, no more now.
        # Redis away: in the bucket of its last lease, never past that lease; and the split
        # of what its own view says is left by the process count and rank it last knew (all
        # there is once the bucket has turned, or the quota changed).
        if self.lease_bucket >= 0:
            if not self.away:
                return 2
            if bucket == self.lease_bucket and spent >= self.lease:
                return 2
        processes = self.processes
        if processes > 1:
            whole = int(self.quota - shared + EPSILON)
            share = whole // processes + (1 if self.rank < whole % processes else 0)
            if mine + 1 > share:
                return 2
        return 0

    def due(self, now: float, fresh_for: float) -> bool:
        """Its lease went stale while Redis answers: the others count this process out
        and take the lease back, so a request waits for a sync (Limiter.held)."""
        return now - self.synced > fresh_for and not self.away and self.lease_bucket >= 0

    def field(self, now: float) -> bytes:
        """This counter's ``RateLimit`` item after an admission: what is left is counted
        down from the last full decision (:meth:`decide`), so it errs low, never high."""
        if now >= self.t_next:
            self.retime(now)
        left = self.r_base - self.spent
        return self.timed % (left if left > 0 else 0)

    def retime(self, now: float) -> None:
        """``t`` (whole seconds to the bucket's end, rounded up) and until when it holds."""
        t = -int((now - self.bucket_end) // 1)
        self.timed = self.timing % t
        self.t_next = self.bucket_end - t + 1

    def remaining(self, now: float) -> int:
        return max(0, math.floor(self.quota - self.estimate(now) + EPSILON))

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

    # -- syncing (gateway.limits.sync) ---------------------------------------------------
    def tally(self, now: float, fresh_for: float, mode: str = "") -> Tally:
        """Its news for a sync at ``now``, with what it may still admit under its lease
        while the answer travels (the store keeps that much set aside for it)."""
        held = max(0, self.lease - self.spent) if now - self.synced <= fresh_for else 0
        self.sending += self.pending
        self.pending = 0
        ws, owner, scope, seconds = self.key
        add_previous, self.pending_previous = self.pending_previous, 0
        return Tally(
            ws,
            owner,
            scope,
            seconds,
            self.bucket,
            self.quota,
            self.sending,
            add_previous,
            mode,
            held,
        )

    def released(self) -> None:
        """Its lease was given back (no longer used): a request now waits for a sync."""
        self.sending = self.lease = 0
        self.synced = self.fast_until = -math.inf
        self.away = False

    def first_seen(self, bucket: int, totals: Totals, now: float) -> None:
        """The lookup's answer (:func:`policies.operations.lookup.lookup_leased`, sent at
        ``now``): this process's first sync of the counter, in the lookup's round trip."""
        if self.sending:  # a sync is under way: its answer is the newer one
            return
        self.estimate(now)  # rolls its bucket over to now's
        if totals.lease >= 0:
            self.synced_with(bucket, totals, now)
        else:  # it holds a lease already (a changed quota, a forgotten counter): N and rank
            self.processes = max(1, totals.processes)
            self.rank = totals.rank

    def synced_with(self, bucket: int, totals: Totals, now: float) -> None:
        """A sync's answer, for the counts of ``bucket`` it sent at ``now`` (the time the
        store judges liveness by: the lease is this process's until then + 3 intervals)."""
        self.sending = 0
        self.away = False
        self.fast_until = -math.inf  # a new view: decide afresh
        if bucket == self.bucket:
            self.current, self.previous = totals.current, totals.previous
        elif bucket == self.bucket - 1:
            self.previous = totals.current  # rolled over meanwhile: the ended bucket's total
        self.processes = max(1, totals.processes)
        self.rank = totals.rank
        self.lease = totals.lease
        self.lease_bucket = self.bucket
        # What was admitted during the round trip came out of the old lease; count it
        # against the new one too (which did not know of it): never more, at worst less.
        self.spent = self.pending + self.pending_previous
        self.synced = now

    def unsynced(self, tally: Tally) -> None:
        """A sync failed: its counts go back (to the previous bucket if this one rolled)."""
        self.away = True
        if tally.bucket == self.bucket:
            self.pending += self.sending
        elif tally.bucket == self.bucket - 1:
            self.pending_previous += self.sending
        self.sending = 0
