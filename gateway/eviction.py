"""Which cached keys leave: the idle ones (``cache_ttl``) and, beyond ``cache_size``, the
least recently used.

A request only stamps its entry with the cache's *epoch*, a counter that the version check
and the usage flush advance (every ``check_interval`` and ``touch_interval``): no clock on
the request path. This module remembers when each recent epoch ended, so an entry whose
last epoch ended ``cache_ttl`` ago has been idle at least that long (never said early).

Nothing here walks the whole cache at once. Entries wait in a queue (the *ring*) in the
order the sweep last visited them; each version check sweeps a slice of it, enough for a
full pass every ``cache_ttl / 4``: idle entries are evicted, the others requeued. Beyond
``cache_size``, a new entry evicts the least recently used of the next few live entries of
the queue (sampled LRU, as Redis does it). A dropped entry stays queued until the sweep
reaches it and is then skipped, so dropping one never searches the queue.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from gateway.entry import CachedKey

_SWEEP_PASSES = 4  # full passes of the idle sweep per cache_ttl
_SWEEP_MIN = 256  # entries looked at per sweep at least (a small cache: all at once)
_SWEEP_MAX = 4096  # and at most (~1 ms): a late sweep catches up over several checks
_SAMPLE = 16  # live entries compared to pick the one to evict beyond cache_size


class Eviction:
    def __init__(
        self,
        *,
        ttl: float,
        hot: dict[bytes, CachedKey],
        forget: Callable[[bytes, CachedKey], None],
        now: float,
    ) -> None:
        self.ttl = ttl
        self._hot = hot  # the cache's dict: an entry is live while it is the one there
        self._forget = forget
        self._ring: deque[CachedKey] = deque()  # visited longest ago first
        self._epoch_ends: deque[tuple[int, float]] = deque()  # (epoch, ended at), recent
        self._idle_epoch = -1  # entries last used in this epoch or before are idle
        self._swept_at = now

    def added(self, entry: CachedKey) -> None:
        self._ring.append(entry)

    def clear(self) -> None:
        self._ring.clear()

    # -- idleness ---------------------------------------------------------------------
    def epoch_ended(self, epoch: int, now: float) -> None:
        self._epoch_ends.append((epoch, now))
        self._idle_epoch_at(now)  # keeps the list of epoch ends short

    def idle(self, entry: CachedKey, now: float) -> bool:
        """Unused for ``cache_ttl`` or more (counted from its lookup if never used)."""
        if entry.used < 0:
            return now >= entry.fetched + self.ttl
        return entry.used <= self._idle_epoch_at(now)

    def _idle_epoch_at(self, now: float) -> int:
        """The last epoch that ended ``cache_ttl`` or more before ``now``."""
        ends = self._epoch_ends
        horizon = now - self.ttl
        while ends and ends[0][1] <= horizon:
            self._idle_epoch = ends.popleft()[0]
        return self._idle_epoch

    # -- making room ------------------------------------------------------------------
    def sweep(self, now: float) -> int:
        """Evict the idle entries of the ring's next slice, requeue the others; how many went."""
        ring = self._ring
        share = (now - self._swept_at) * _SWEEP_PASSES / self.ttl
        self._swept_at = now
        budget = min(len(ring), _SWEEP_MAX, max(_SWEEP_MIN, math.ceil(len(ring) * share)))
        hot = self._hot
        idle_epoch = self._idle_epoch_at(now)
        horizon = now - self.ttl
        evicted = 0
        for _ in range(budget):
            entry = ring.popleft()
            if hot.get(entry.cache_key) is not entry:
                continue  # dropped since it was queued
            used = entry.used
            if (used <= idle_epoch) if used >= 0 else (entry.fetched <= horizon):
                self._forget(entry.cache_key, entry)
                evicted += 1
            else:
                ring.append(entry)
        return evicted

    def evict_one(self, epoch: int) -> None:
        """Make room: the least recently used of the next few live entries of the ring.

        ``epoch``: the current one, the rank of an entry not used yet (its request is
        still on its way: evicting it would cost a second lookup for nothing).
        """
        ring = self._ring
        hot = self._hot
        sample: list[CachedKey] = []
        while ring and len(sample) < _SAMPLE:
            entry = ring.popleft()
            if hot.get(entry.cache_key) is entry:
                sample.append(entry)
        if not sample:
            return
        # The first of equals: the one queued longest.
        victim = min(sample, key=lambda e: epoch if e.used < 0 else e.used)
        for entry in sample:
            if entry is not victim:
                ring.append(entry)
        self._forget(victim.cache_key, victim)
