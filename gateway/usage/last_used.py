"""Last-used times, batched: a request marks its cache entry; a flush writes them all.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.keys.cache import DecisionCache
from gateway.keys.cached_key import CachedKey
from gateway.metrics import GatewayMetrics
from gateway.usage.request_counts import UsageCounter
from policies.errors import StoreUnavailable
from policies.storage.async_store import AsyncPolicyStore


class UsageRecorder:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._pending: dict[str, set[str]] = {}

    def evicted(self, entry: CachedKey) -> None:
        """An entry leaves the cache: keep its mark if it was used since the last flush.

        (Called before :meth:`GatewayMetrics.fold` takes its hits.)
        """
        if entry.used or entry.hits != entry.hits_flushed:
            self._pending.setdefault(entry.workspace_id, set()).add(entry.key_id)
            entry.used = False

    def collect(self, entries: Iterable[CachedKey]) -> dict[str, dict[str, float]]:
        """``{workspace: {key_id: wall time}}`` for every key used since the last collection."""
        for entry in entries:
            hits = entry.hits
            if hits != entry.hits_flushed or entry.used:
                self._pending.setdefault(entry.workspace_id, set()).add(entry.key_id)
                entry.hits_flushed = hits
                entry.used = False
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
    recorder: UsageRecorder,
    counter: UsageCounter,
    cache: DecisionCache,
    metrics: GatewayMetrics,
    reader: AsyncPolicyStore,
    timeout: float | None = None,
) -> int:
    """Write the last-used times and usage counts collected since the previous flush, in
    one pipeline; how many keys' last use was written."""
    entries = cache.entries()
    usage = recorder.collect(entries)
    counts = counter.collect(entries)
    if not usage and not counts:
        return 0
    try:
        with metrics.store_call("touch"):
            await reader.record(usage, counts, timeout)
    except StoreUnavailable:
        recorder.restore(usage)
        counter.drop(counts)
        raise
    return sum(len(ids) for ids in usage.values())
