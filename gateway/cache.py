"""Per-process decision cache: what each recently seen key may do, and which keys are unknown.

Positive entries
    A :class:`CachedKey` per valid key, in a cachetools ``TTLCache`` (``cache_size`` entries,
    least recently used evicted first). Entries are keyed by the BLAKE2s digest of the
    presented key, never the key itself, so a dump or ``repr`` of the cache shows no key.
    Each remembers its workspace's policy version; a per-workspace index lets an
    invalidation event evict exactly that workspace's entries.

Freshness
    An entry is trusted while ``now < max(fetched, last confirmation) + stale_bound``; the
    periodic version check (:mod:`gateway.invalidation`) confirms every entry at once. While
    Redis answers, that is every ``check_interval`` (<= ``stale_bound``), so requests do not
    even read the clock; once a check fails, each request tests its entry's times: entries
    keep serving for ``stale_bound`` past their last confirmation, then are looked up again
    (503 if Redis is still away). ``cache_ttl`` evicts keys nobody uses: the version check
    re-arms the TTL of the entries used since the previous check (and sweeps out expired
    ones), so a busy key stays cached indefinitely and costs no Redis command per request.

Negative entries
    Well-formed but unknown (or revoked) keys, keyed the same way, for ``negative_ttl``
    (short) in a bounded ``TTLCache``: repeating one bad key costs one lookup per
    ``negative_ttl``. Malformed keys never get here: the checksum refuses them first.

Reads on the request path are a single dict probe on :attr:`DecisionCache.hot`, a view of
the TTLCache that its eviction hooks keep in step; everything else runs on the event loop
between requests, so no locks are needed (one middleware serves one event loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from cachetools import LRUCache, TTLCache

from gateway.entry import CachedKey


class _IndexedTTLCache(TTLCache[bytes, CachedKey]):
    """A TTLCache that reports every entry it drops (expiry, LRU eviction) to ``forget``."""

    def __init__(
        self,
        maxsize: int,
        ttl: float,
        timer: Callable[[], float],
        forget: Callable[[bytes, CachedKey], None],
    ) -> None:
        super().__init__(maxsize, ttl, timer)
        self._forget = forget

    def popitem(self) -> tuple[bytes, CachedKey]:
        key, value = super().popitem()
        self._forget(key, value)
        return key, value

    def expire(self, time: float | None = None) -> list[tuple[bytes, CachedKey]]:
        expired = super().expire(time)
        for key, value in expired:
            self._forget(key, value)
        return expired


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
        self.hot: dict[bytes, CachedKey] = {}
        self._entries = _IndexedTTLCache(size, ttl, timer, self._forget)
        self._by_workspace: dict[str, set[bytes]] = {}
        self._negative: TTLCache[bytes, str] = TTLCache(negative_size, negative_ttl, timer)
        self._known_versions: LRUCache[str, int] = LRUCache(max(1024, size))
        self.confirmed = -math.inf  # when the last version check confirmed every entry
        self.trusted_until = -math.inf  # confirmed + stale_bound
        # False while version checks succeed: every entry is then confirmed at least every
        # check_interval (<= stale_bound) and expired ones are swept, so a request needs no
        # clock. Set by the first failed check; requests then test each entry's times.
        self.degraded = False
        # Requests stamp entries with the epoch instead of a time; the version check and the
        # usage flush each bump it and remember where they left off.
        self.epoch = 0
        self._checked_epoch = 0

    def __len__(self) -> int:
        return len(self.hot)

    # -- request path -----------------------------------------------------------------
    def get(self, cache_key: bytes, now: float) -> CachedKey | None:
        """The trusted entry for a key, or None (absent, expired or past its stale bound).

        (The middleware inlines this on its request path.)
        """
        entry = self.hot.get(cache_key)
        if entry is None or (self.degraded and not self.trusted(entry, now)):
            return None
        return entry

    def trusted(self, entry: CachedKey, now: float) -> bool:
        """Within its TTL, and confirmed (or fetched) less than ``stale_bound`` ago."""
        return now < entry.expires_at and (now < entry.trusted_until or now < self.trusted_until)

    def put(self, entry: CachedKey) -> bool:
        """Cache a fresh lookup, unless an event already announced a newer version."""
        if entry.version < self._known_versions.get(entry.workspace_id, 0):
            return False
        self._store(entry, self.timer())
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
        dropped = 0
        for cache_key in list(self._by_workspace.get(workspace_id, ())):
            entry = self.hot.get(cache_key)
            if entry is not None and (version is None or entry.version < version):
                self._drop(cache_key, entry)
                dropped += 1
        return dropped

    def reconcile(self, versions: dict[str, int], checked_at: float) -> int:
        """Apply a version check started at ``checked_at``; how many entries were dropped.

        Entries whose version differs (0: the workspace is gone) are dropped; every other
        entry is confirmed as of ``checked_at``, and the TTL of those used since the last
        check is re-armed.
        """
        dropped = 0
        for workspace_id, current in versions.items():
            # Authoritative, even downwards: a store rebuilt from a backup restarts at 1.
            self._known_versions[workspace_id] = current
            for cache_key in list(self._by_workspace.get(workspace_id, ())):
                entry = self.hot.get(cache_key)
                if entry is not None and entry.version != current:
                    self._drop(cache_key, entry)
                    dropped += 1
        self.confirmed = checked_at
        self.trusted_until = checked_at + self.stale_bound
        self.degraded = False
        now = self.timer()
        since, self.epoch = self._checked_epoch, self.epoch + 1
        self._checked_epoch = self.epoch
        for entry in list(self.hot.values()):
            if entry.used >= since and now < entry.expires_at:
                self._store(entry, now)  # re-inserting re-arms the TTL and the LRU position
        self._entries.expire()  # the request path does not look at expiry times: sweep here
        return dropped

    def next_epoch(self) -> int:
        """Start a new epoch; the one that just ended (for the usage flush)."""
        self.epoch += 1
        return self.epoch - 1

    def clear(self) -> int:
        """Forget everything (after a lost subscription); how many entries went."""
        dropped = list(self.hot.values())
        self._entries.clear()  # (cachetools clears in bulk, without popitem: no _forget)
        self.hot.clear()
        self._by_workspace.clear()
        self._negative.clear()
        self._known_versions.clear()  # the store may have been rebuilt: versions restart
        for entry in dropped:
            self.on_evict(entry)
        return len(dropped)

    def entries(self) -> list[CachedKey]:
        return list(self.hot.values())  # one C call: safe to take from another thread

    # -- bookkeeping ------------------------------------------------------------------
    def _store(self, entry: CachedKey, now: float) -> None:
        entry.trusted_until = entry.fetched + self.stale_bound
        entry.expires_at = now + self.ttl
        self._entries[entry.cache_key] = entry  # may expire others first (via _forget)
        self.hot[entry.cache_key] = entry
        self._by_workspace.setdefault(entry.workspace_id, set()).add(entry.cache_key)

    def _drop(self, cache_key: bytes, entry: CachedKey) -> None:
        self._entries.pop(cache_key, None)
        self._forget(cache_key, entry)

    def _forget(self, cache_key: bytes, entry: CachedKey) -> None:
        # Idempotent, and never removes a newer entry stored under the same key.
        if self.hot.get(cache_key) is not entry:
            return
        del self.hot[cache_key]
        keys = self._by_workspace.get(entry.workspace_id)
        if keys is not None:
            keys.discard(cache_key)
            if not keys:
                del self._by_workspace[entry.workspace_id]
        self.on_evict(entry)
