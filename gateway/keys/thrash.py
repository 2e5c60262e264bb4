"""One warning a minute at most when the decision cache evicts keys before their TTL.

More distinct active keys than ``cache_size`` (a round robin over many tokens) turns every
request into a Redis lookup; the metric ``keystile_gateway_cache_evictions_full`` counts
those evictions and this says so in the log, rate-limited, with the setting to raise.
"""

from __future__ import annotations

import logging

from gateway.keys.cache import DecisionCache

INTERVAL = 60.0  # seconds between two warnings at most


class ThrashWatch:
    def __init__(self, cache: DecisionCache, logger: logging.Logger) -> None:
        self._cache = cache
        self._logger = logger
        self._seen = 0
        self._warned = -INTERVAL

    def check(self, now: float) -> bool:
        """Log once if entries were evicted while full since the last warning (and it is
        ``INTERVAL`` ago); whether it logged."""
        evicted = self._cache.positive.evicted_full
        if evicted == self._seen or now - self._warned < INTERVAL:
            return False
        self._logger.warning(
            "decision cache full: %d key(s) evicted before their TTL since the last warning; "
            "each of their next requests is a Redis lookup. Raise cache_size (now %d) above "
            "the number of distinct keys active within cache_ttl",
            evicted - self._seen,
            self._cache.positive.maxsize,
        )
        self._seen, self._warned = evicted, now
        return True
