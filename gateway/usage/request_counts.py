"""Usage counts, in process: what each key asked for and how it ended, flushed in bulk.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from gateway.keys.cached_key import CachedKey
from policies.origins import normalize_origin
from policies.usage.request_counts import (
    ALLOWED,
    MAX_ORIGINS,
    MINUTE,
    NO_ORIGIN,
    OTHER_ORIGIN,
    action_field,
    origin_field,
)

Counts = dict[str, dict[str, int]]  # workspace -> field -> count


class UsageCounter:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._pending: defaultdict[str, defaultdict[str, int]] = _counts()
        # Origins this process has written per (workspace, subject) in the current minute:
        # the top-N bound (the first N seen, then "other").
        self._origins: dict[tuple[str, str], set[str]] = {}
        self._minute = -1
        self.lost = 0  # requests whose counts failed flushes dropped

    def refused(
        self,
        code: str,
        entry: CachedKey | None,
        action: str | None,
    ) -> None:
        """A refusal the denier made, of a valid key. Missing and invalid keys count
        nowhere: anyone can make up a key of any workspace id, and such counts would let
        them fill Redis with buckets."""
        if entry is None:
            return
        subject = entry.subject
        fields = self._pending[entry.workspace_id]
        fields[action_field(subject, action, code)] += 1

    def evicted(self, entry: CachedKey) -> None:
        if entry.tally:
            self._take(entry)

    def collect(self, entries: Iterable[CachedKey]) -> Counts:
        """Every count since the last collection, as the store's fields per workspace."""
        minute = MINUTE.start(self._clock())
        if minute != self._minute:
            self._minute = minute
            self._origins = {}
        for entry in entries:
            if entry.tally:
                self._take(entry)
        pending, self._pending = self._pending, _counts()
        return {ws: dict(fields) for ws, fields in pending.items() if fields}

    def drop(self, counts: Counts) -> None:
        """A flush failed: these counts are lost (bounded memory, at most one interval)."""
        self.lost += sum(
            n for fields in counts.values() for name, n in fields.items() if name[0] == "a"
        )

    def _take(self, entry: CachedKey) -> None:
        tally = entry.tally
        items = list(tally.items())
        tally.clear()
        subject = entry.subject
        fields = self._pending[entry.workspace_id]
        if entry.by_origin:
            seen = self._origins.setdefault((entry.workspace_id, subject), set())
            # The busiest first: they get the N names of the minute, the rest "other".
            for (action, raw), n in sorted(items, key=lambda kv: -kv[1]):
                fields[action_field(subject, action, ALLOWED)] += n
                fields[origin_field(subject, action, _bounded(raw, seen))] += n
        else:
            for action, n in items:
                fields[action_field(subject, action, ALLOWED)] += n


def _bounded(raw: bytes | None, seen: set[str]) -> str:
    if raw is None:
        return NO_ORIGIN
    origin = normalize_origin(raw.decode("latin-1"))[:200]
    if origin in seen:
        return origin
    if len(seen) >= MAX_ORIGINS:
        return OTHER_ORIGIN
    seen.add(origin)
    return origin


def _counts() -> defaultdict[str, defaultdict[str, int]]:
    return defaultdict(lambda: defaultdict(int))
