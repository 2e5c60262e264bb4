"""Per-process decision cache: what each recently seen key may do, and which keys are unknown.

Positive entries
    A :class:`CachedKey` per valid key in :attr:`DecisionCache.hot`, a plain dict, keyed by
    the BLAKE2s digest of the presented key, never the key itself, so a dump or ``repr`` of
    the cache shows no key. Each remembers its workspace's policy version; an index by
    workspace and version lets an event evict exactly the entries it outdates, and lets the
    version check skip every workspace whose entries are all current without looking at
    them (with 100,000 keys cached a check touches only what changed).

Freshness
    An entry is trusted while ``now < max(fetched, last confirmation) + stale_bound``; the
    periodic version check (:mod:`gateway.invalidation`) confirms every entry at once, with
    one timestamp for the whole cache. While Redis answers, that is every
    ``check_interval`` (<= ``stale_bound``), so requests do not even read the clock; once a
    check fails, each request tests its entry's times: entries keep serving for
    ``stale_bound`` past their last confirmation, then are looked up again (503 if Redis is
    still away).

Idle keys and the size bound
    ``cache_ttl`` evicts keys unused for that long, ``cache_size`` bounds the entries (least
    recently used out first), both without walking the cache: see :mod:`gateway.eviction`.
    A request only stamps its entry with the current :attr:`DecisionCache.epoch`.

Negative entries
    Well-formed but unknown (or revoked) keys, keyed the same way, for ``negative_ttl``
    (short) in a bounded ``TTLCache``: repeating one bad key costs one lookup per
    ``negative_ttl``. Malformed keys never get here: the checksum refuses them first.

Reads on the request path are a single dict probe on :attr:`DecisionCache.hot`; everything
else runs on the event loop between requests, so no locks are needed (one middleware serves
one event loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from cachetools import LRUCache, TTLCache

from gateway.entry import CachedKey
from gateway.eviction import Eviction


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
        self.size = size
        self.ttl = ttl
        self.stale_bound = stale_bound
        self.timer = timer
        self.on_evict = on_evict
        self.hot: dict[bytes, CachedKey] = {}
        self._eviction = Eviction(ttl=ttl, hot=self.hot, forget=self._forget, now=timer())
        self._by_workspace: dict[str, dict[int, set[bytes]]] = {}  # workspace -> version -> keys
        self._negative: TTLCache[bytes, str] = TTLCache(negative_size, negative_ttl, timer)
        self._known_versions: LRUCache[str, int] = LRUCache(max(1024, size))
        self.confirmed = -math.inf  # when the last version check confirmed every entry
        self.trusted_until = -math.inf  # confirmed + stale_bound
        # False while version checks succeed: every entry is then confirmed at least every
        # check_interval (<= stale_bound) and idle ones are swept, so a request needs no
        # clock. Set by the first failed check; requests then test each entry's times.
        self.degraded = False
        self.epoch = 0  # requests stamp entries with it (see gateway.eviction)

    def __len__(self) -> int:
        return len(self.hot)

    # -- request path -----------------------------------------------------------------
    def get(self, cache_key: bytes, now: float) -> CachedKey | None:
        """The trusted entry for a key, or None (absent, idle or past its stale bound).

        (The middleware inlines this on its request path.)
        """
        entry = self.hot.get(cache_key)
        if entry is None or (self.degraded and not self.trusted(entry, now)):
            return None
        return entry

    def trusted(self, entry: CachedKey, now: float) -> bool:
        """Fetched or confirmed less than ``stale_bound`` ago, and not idle."""
        fresh = now < entry.fetched + self.stale_bound or now < self.trusted_until
        return fresh and not self.idle(entry, now)

    def idle(self, entry: CachedKey, now: float) -> bool:
        """Unused for ``cache_ttl`` or more."""
        return self._eviction.idle(entry, now)

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
        self._negative.clear()
        by_version = self._by_workspace.get(workspace_id, {})
        return self._drop(workspace_id, [v for v in by_version if version is None or v < version])

    def reconcile(self, versions: dict[str, int], checked_at: float) -> int:
        """Apply a version check started at ``checked_at``; how many entries were dropped.

        Entries whose version differs (0: the workspace is gone) are dropped; every other
        entry is confirmed as of ``checked_at`` (one timestamp for all). A workspace whose
        entries all have its current version costs one dict probe, whatever its size.
        """
        dropped = 0
        for workspace_id, current in versions.items():
            # Authoritative, even downwards: a store rebuilt from a backup restarts at 1.
            self._known_versions[workspace_id] = current
            by_version = self._by_workspace.get(workspace_id)
            if by_version is None or (len(by_version) == 1 and current in by_version):
                continue  # every entry is current (the usual case)
            dropped += self._drop(workspace_id, [v for v in by_version if v != current])
        self.confirmed = checked_at
        self.trusted_until = checked_at + self.stale_bound
        self.degraded = False
        now = self.timer()
        self._end_epoch(now)
        self._eviction.sweep(now)  # a slice of the cache, not all of it
        return dropped

    def next_epoch(self) -> int:
        """Start a new epoch; the one that just ended (for the usage flush)."""
        self._end_epoch(self.timer())
        return self.epoch - 1

    def clear(self) -> int:
        """Forget everything (after a lost subscription); how many entries went."""
        dropped = list(self.hot.values())
        self.hot.clear()
        self._eviction.clear()
        self._by_workspace.clear()
        self._negative.clear()
        self._known_versions.clear()  # the store may have been rebuilt: versions restart
        for entry in dropped:
            self.on_evict(entry)
        return len(dropped)

    def entries(self) -> list[CachedKey]:
        return list(self.hot.values())  # one C call: safe to take from another thread

    # -- bookkeeping ------------------------------------------------------------------
    def _store(self, entry: CachedKey) -> None:
        cache_key = entry.cache_key
        hot = self.hot
        previous = hot.get(cache_key)
        if previous is not None:
            self._forget(cache_key, previous)  # replaced (a lookup after a stale bound)
        elif len(hot) >= self.size:
            self._eviction.evict_one(self.epoch)
        hot[cache_key] = entry
        self._eviction.added(entry)
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
        dropped = 0
        for version in versions:
            for cache_key in list(by_version.get(version, ())):
                entry = self.hot.get(cache_key)
                if entry is not None:
                    self._forget(cache_key, entry)
                    dropped += 1
        return dropped

    def _end_epoch(self, now: float) -> None:
        self._eviction.epoch_ended(self.epoch, now)
        self.epoch += 1

    def _forget(self, cache_key: bytes, entry: CachedKey) -> None:
        # Idempotent, and never removes a newer entry stored under the same key.
        if self.hot.get(cache_key) is not entry:
            return
        del self.hot[cache_key]
        by_version = self._by_workspace.get(entry.workspace_id)
        if by_version is not None:
            keys = by_version.get(entry.version)
            if keys is not None:
                keys.discard(cache_key)
                if not keys:
                    del by_version[entry.version]
                    if not by_version:
                        del self._by_workspace[entry.workspace_id]
        self.on_evict(entry)
