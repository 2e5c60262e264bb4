"""Per-process decision cache: what each recently seen key may do, and which keys are unknown.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from cachetools import LRUCache, TTLCache

from gateway.keys.cached_key import CachedKey
from gateway.keys.ttlcache import ReportingTTLCache, StoppableClock


class DecisionCache:
    def __init__(
        self,
        *,
        size: int,
        ttl: float,
        negative_size: int,
        negative_ttl: float,
        stale_bound: float,
        timer: Callable[[], float],
        on_evict: Callable[[CachedKey], None] = lambda entry: None,
    ) -> None:
        self.ttl = ttl
        self.stale_bound = stale_bound
        self.timer = timer
        self.on_evict = on_evict
        # The TTLCache's own clock (cachetools' public ``timer=``): the timer, but held still
        # while version checks fail (see check_failed).
        self.clock = StoppableClock(timer)
        self.positive = ReportingTTLCache(size, ttl, self.clock, self._left)
        self._by_workspace: dict[str, dict[int, set[bytes]]] = {}  # workspace -> version -> keys
        self._negative: TTLCache[bytes, str, float] = TTLCache(negative_size, negative_ttl, timer)
        self._known_versions: LRUCache[str, int] = LRUCache(max(1024, size))
        self._last_event = -math.inf  # when an event last raised a known version
        self.confirmed = -math.inf  # when the last version check confirmed every entry
        self.trusted_until = -math.inf  # confirmed + stale_bound
        # False while version checks succeed: every entry is then confirmed at least every
        # check_interval (<= stale_bound), so a request need not test the stale bound. Set
        # by the first failed check; requests then test each entry's times.
        self.degraded = False

    def check_failed(self) -> None:
        """A version check could not reach Redis: requests now test each entry's times, and
        the TTLCache's clock (:class:`StoppableClock`) stops.

        ``cache_ttl`` thus counts only time in which Redis could have been asked again, so
        an outage does not cut an entry's ``stale_bound`` short: a key fetched 290 s before
        Redis went away still serves ``stale_bound`` past its last confirmation. The clock
        stops here rather than in the request path's timer, which stays the plain one.
        """
        if not self.degraded:
            self.clock.stop()
            self.degraded = True

    def __len__(self) -> int:
        return len(self.positive)  # (TTLCache purges expired entries first)

    # -- request path -----------------------------------------------------------------
    def trusted(self, entry: CachedKey, now: float) -> bool:
        """Fetched or confirmed less than ``stale_bound`` ago (the TTL is TTLCache's test).

        The request path reads ``positive[key]`` and, only while :attr:`degraded`, asks this:
        that inline test in :mod:`gateway.middleware` is the cache's one read.
        """
        return now < entry.fetched + self.stale_bound or now < self.trusted_until

    def put(self, entry: CachedKey) -> bool:
        """Cache a fresh lookup, unless an event already announced a newer version."""
        if entry.version < self._known_versions.get(entry.workspace_id, 0):
            return False
        self._store(entry)
        return True

    def is_unknown(self, cache_key: bytes) -> bool:
        return cache_key in self._negative

    def put_unknown(self, cache_key: bytes, workspace_id: str) -> None:
        self._negative[cache_key] = workspace_id

    # -- invalidation -----------------------------------------------------------------
    def workspace_ids(self) -> list[str]:
        """The workspaces a version check asks about (expired entries purged first)."""
        self.positive.expire()  # only the expired entries: the TTL order's head
        return list(self._by_workspace)

    def known_version(self, workspace_id: str) -> int:
        return self._known_versions.get(workspace_id, 0)

    def evict_workspace(self, workspace_id: str, version: int | None = None) -> int:
        """Drop a workspace's entries older than ``version`` (all when None); how many went.

        A known version also stops a lookup that was already in flight from caching the
        older answer after the event (see :meth:`put`). Unknown-key entries are dropped as
        well: a restored backup can make a once-unknown key valid.
        """
        if version is not None and version > self._known_versions.get(workspace_id, 0):
            self._known_versions[workspace_id] = version
            self._last_event = self.timer()
        self._negative.clear()
        by_version = self._by_workspace.get(workspace_id, {})
        return self._drop(workspace_id, [v for v in by_version if version is None or v < version])

    def reconcile(self, versions: dict[str, int], checked_at: float) -> int:
        """Apply a version check started at ``checked_at``; how many entries were dropped.

        Entries whose version differs (0: the workspace is gone) are dropped; every other
        entry is confirmed as of ``checked_at`` (one timestamp for all, nothing re-inserted).
        A workspace whose entries all have its current version costs one dict probe,
        whatever its size.
        """
        dropped = 0
        for workspace_id, current in versions.items():
            # Authoritative, even downwards (a store rebuilt from a backup restarts at 1),
            # unless an event came after the check was sent: its answer may predate that
            # event, and lowering the version would let an in-flight lookup from before the
            # event be cached as fresh.
            if self._last_event < checked_at or current >= self.known_version(workspace_id):
                self._known_versions[workspace_id] = current
            by_version = self._by_workspace.get(workspace_id)
            if by_version is None or (len(by_version) == 1 and current in by_version):
                continue  # every entry is current (the usual case)
            dropped += self._drop(workspace_id, [v for v in by_version if v != current])
        self.confirmed = checked_at
        self.trusted_until = checked_at + self.stale_bound
        if self.degraded:
            self.clock.run()  # the TTL clock runs again (and catches up: no time is lost)
            self.degraded = False
        return dropped

    def clear(self) -> int:
        """Forget everything (after a lost subscription); how many entries went."""
        held = self.positive.held()
        # In bulk (cachetools >= 6); older versions pop entries one by one, each reported to
        # _left (unindexed there, so not reported twice below).
        self.positive.clear()
        self._negative.clear()
        self._known_versions.clear()  # the store may have been rebuilt: versions restart
        for entry in held:
            if self._unindex(entry):
                self.on_evict(entry)
        self._by_workspace.clear()
        return len(held)

    def entries(self) -> list[CachedKey]:
        """The entries held, for the usage flush and the metrics (another thread may ask)."""
        return self.positive.held()

    # -- bookkeeping: the index mirrors exactly the entries the TTLCache holds ----------
    def _store(self, entry: CachedKey) -> None:
        cache_key = entry.cache_key
        positive = self.positive
        previous = positive.discard(cache_key)
        if previous is not None:
            self._left(previous)  # replaced (a lookup after a stale bound)
        positive[cache_key] = entry  # may expire and evict others first (via _left)
        by_version = self._by_workspace.setdefault(entry.workspace_id, {})
        for version, keys in by_version.items():
            if version == entry.version:
                entry.version = version  # one int object per workspace version, shared
                keys.add(cache_key)
                return
        by_version[entry.version] = {cache_key}

    def _drop(self, workspace_id: str, versions: list[int]) -> int:
        """Drop a workspace's entries of these versions; how many went."""
        by_version = self._by_workspace.get(workspace_id, {})
        discard = self.positive.discard
        dropped = 0
        for version in versions:
            for cache_key in list(by_version.get(version, ())):
                entry = discard(cache_key)
                if entry is not None:
                    self._left(entry)
                    dropped += 1
        return dropped

    def _left(self, entry: CachedKey) -> None:
        """An entry left the TTLCache (dropped by us, or expired or evicted by it)."""
        self._unindex(entry)
        self.on_evict(entry)

    def _unindex(self, entry: CachedKey) -> bool:
        """Take an entry out of the index; False if it was not there."""
        by_version = self._by_workspace.get(entry.workspace_id, {})
        keys = by_version.get(entry.version)
        if keys is None or entry.cache_key not in keys:
            return False
        keys.remove(entry.cache_key)
        if not keys:
            del by_version[entry.version]
            if not by_version:
                del self._by_workspace[entry.workspace_id]
        return True
