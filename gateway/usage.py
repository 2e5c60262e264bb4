"""Last-used times, batched: a request marks its cache entry; a flush writes them all.

A cache hit marks nothing of its own: it counts itself in ``CachedKey.hits`` (which the
metrics need anyway), and the flush compares that count with the one it saw last
(``hits_flushed``); a request allowed after a lookup stores the cache's epoch in ``used``.
Every ``touch_interval`` the gateway collects the keys used since the previous flush and
writes them in one pipeline (:meth:`policies.PolicyReader.touch`), stamped with the flush
time: last-used times are precise to ``touch_interval``. Entries evicted before a flush
hand their mark over here, so evictions lose nothing. If Redis is away the marks wait for
the next flush (bounded: one per key).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from gateway.cache import DecisionCache
from gateway.entry import CachedKey
from gateway.metrics import GatewayMetrics
from policies.errors import StoreUnavailable
from policies.reader import PolicyReader


class UsageRecorder:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._since = 0  # first cache epoch not yet collected
        self._pending: dict[str, set[str]] = {}

    def evicted(self, entry: CachedKey) -> None:
        """An entry leaves the cache: keep its mark if it was used since the last flush.

        (Called before :meth:`GatewayMetrics.fold` takes its hits.)
        """
        if entry.used >= self._since or entry.hits != entry.hits_flushed:
            self._pending.setdefault(entry.workspace_id, set()).add(entry.key_id)

    def collect(self, entries: Iterable[CachedKey], ended: int) -> dict[str, dict[str, float]]:
        """``{workspace: {key_id: wall time}}`` for every key used since the last collection.

        ``ended``: the cache epoch just closed (:meth:`DecisionCache.next_epoch`).
        """
        since = self._since
        for entry in entries:
            hits = entry.hits
            if hits != entry.hits_flushed or since <= entry.used <= ended:
                self._pending.setdefault(entry.workspace_id, set()).add(entry.key_id)
                entry.hits_flushed = hits
        self._since = ended + 1
        stamp = self._clock()
        usage = {ws: dict.fromkeys(ids, stamp) for ws, ids in self._pending.items()}
        self._pending = {}
        return usage

    def restore(self, usage: dict[str, dict[str, float]]) -> None:
        """A flush failed: keep its keys for the next one."""
        for ws, ids in usage.items():
            self._pending.setdefault(ws, set()).update(ids)

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._pending.values())


async def flush(
    recorder: UsageRecorder, cache: DecisionCache, metrics: GatewayMetrics, reader: PolicyReader
) -> int:
    """Write the last-used times collected since the previous flush; how many keys."""
    usage = recorder.collect(cache.entries(), cache.next_epoch())
    if not usage:
        return 0
    started = time.perf_counter()
    try:
        await reader.touch(usage)
    except StoreUnavailable:
        metrics.store_errors.labels("touch").inc()
        recorder.restore(usage)
        raise
    finally:
        metrics.store_seconds.labels("touch").observe(time.perf_counter() - started)
    return sum(len(ids) for ids in usage.values())
