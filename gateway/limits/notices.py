"""Keys refused for their rate limit, for the workspace's security notifications.

The request path does one dictionary probe per rate-limit refusal (nothing on an admitted
request): a key is noted at most once an hour in this process, and the next usage flush
hands the notes to the store, whose own step notices a key at most once an hour across
every gateway (:func:`policies.operations.notify_marks.note_rate_limited`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from gateway.keys.cached_key import CachedKey

HOUR = 3600.0
Note = tuple[str, str, str]  # workspace, key id, kind


class LimitNotices:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._noted: dict[tuple[str, str], float] = {}
        self._pending: list[Note] = []

    def refused(self, entry: CachedKey) -> None:
        """A request of ``entry``'s key was refused for its rate limit."""
        key = (entry.workspace_id, entry.key_id)
        now = self._clock()
        if now - self._noted.get(key, -math.inf) < HOUR:
            return
        self._noted[key] = now
        self._pending.append((entry.workspace_id, entry.key_id, entry.kind_name))

    def take(self) -> list[Note]:
        """The notes since the last take (notes older than an hour are forgotten)."""
        pending, self._pending = self._pending, []
        if pending or self._noted:
            cutoff = self._clock() - HOUR
            self._noted = {k: t for k, t in self._noted.items() if t > cutoff}
        return pending

    def restore(self, notes: list[Note]) -> None:
        """A flush failed: the notes go with the next one."""
        self._pending.extend(notes)
