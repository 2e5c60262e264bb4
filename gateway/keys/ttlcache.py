"""A cachetools ``TTLCache`` of decision-cache entries that says which entries it drops.

The decision cache keeps an index by workspace and version beside its TTLCache, and folds
the hits of every entry that leaves into the metrics: both need to hear of the entries the
TTLCache drops on its own. ``popitem`` (least recently used, beyond ``maxsize``) and
``expire`` (past their time to live; cachetools >= 5 returns them) are the hooks cachetools
documents for that; everything else is TTLCache's. The clock that can stand still during an
outage is passed as TTLCache's public ``timer``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from cachetools import Cache, TTLCache

from gateway.keys.cached_key import CachedKey


class StoppableClock:
    """A TTLCache's clock that can stand still: ``timer()``, or while stopped, the time it
    stopped at. Running again it reads ``timer()`` once more, so entries whose time to live
    passed meanwhile expire at once: stopping only defers expiry, it never extends a TTL
    beyond the outage."""

    __slots__ = ("_stopped_at", "_timer")

    def __init__(self, timer: Callable[[], float]) -> None:
        self._timer = timer
        self._stopped_at: float | None = None

    def __call__(self) -> float:
        stopped = self._stopped_at
        return self._timer() if stopped is None else stopped

    def stop(self) -> None:
        if self._stopped_at is None:
            self._stopped_at = self._timer()

    def run(self) -> None:
        self._stopped_at = None


class ReportingTTLCache(TTLCache[bytes, CachedKey, float]):
    """A TTLCache that reports each entry it drops on its own (expired, or least recently
    used beyond its size) to ``left``: cachetools' documented hooks, ``popitem`` and
    ``expire``."""

    def __init__(
        self,
        maxsize: int,
        ttl: float,
        timer: Callable[[], float],
        left: Callable[[CachedKey], None],
    ) -> None:
        super().__init__(maxsize, ttl, timer)
        self._left = left
        self._clearing = False
        self.evicted_full = 0  # entries dropped before their TTL because the cache was full

    def popitem(self) -> tuple[bytes, CachedKey]:
        key, entry = super().popitem()  # (its own expire() call reports the expired ones)
        if not self._clearing:
            self.evicted_full += 1
        self._left(entry)
        return key, entry

    def clear(self) -> None:
        """Empty the cache (older cachetools pop entry by entry: not counted as evictions)."""
        self._clearing = True
        try:
            super().clear()
        finally:
            self._clearing = False

    def expire(self, time: float | None = None) -> list[tuple[bytes, CachedKey]]:
        expired = super().expire(time)
        for _, entry in expired:
            self._left(entry)
        return expired

    def discard(self, key: bytes) -> CachedKey | None:
        """Remove a key, expired or not (``pop`` leaves an expired one in place); its entry."""
        try:
            entry: CachedKey = Cache.__getitem__(self, key)  # as stored: no LRU move
        except KeyError:
            return None
        with contextlib.suppress(KeyError):  # raised after removing an expired entry
            del self[key]
        return entry

    def held(self) -> list[CachedKey]:
        """Every entry held (expired ones not yet purged too), without moving any in the LRU
        order as ``values()`` would; the key list is one C call, so another thread may ask."""
        get = Cache.__getitem__
        held = []
        for key in list(Cache.__iter__(self)):
            with contextlib.suppress(KeyError):  # removed meanwhile by the loop's thread
                held.append(get(self, key))
        return held
