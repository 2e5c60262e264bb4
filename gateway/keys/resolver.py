"""A key the cache cannot answer: checksum, negative cache, then one shared Redis lookup.

Malformed keys (wrong length, not ASCII, bad checksum) are refused here without touching the
cache or Redis. Well-formed keys that Redis did not know are remembered in the negative
cache. Concurrent requests for the same uncached key share one lookup, which runs as its own
task: a caller that disconnects does not cancel it for the others. Whatever Redis answers,
the result is a decision: an entry, 401 ``invalid_key``, 503 ``store_unavailable`` (an
outage) or 500 ``internal_error`` (a defect, logged once with its traceback and counted).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway.keys.cache import DecisionCache
from gateway.keys.cached_key import CachedKey
from gateway.metrics import GatewayMetrics
from gateway.refusals.answers import Problems
from gateway.refusals.problems import Rendered
from gateway.runtime.runtime import Runtime
from policies.errors import InvalidKey, StoreUnavailable
from policies.keys import keyformat
from policies.limits import rate_limits as limits

Found = tuple[CachedKey | Rendered, str | None]  # the entry or the refusal; the workspace


class KeyResolver:
    def __init__(
        self,
        *,
        cache: DecisionCache,
        metrics: GatewayMetrics,
        problems: Problems,
        runtime: Runtime,
        logger: logging.Logger,
        timer: Callable[[], float],
    ) -> None:
        self.cache = cache
        self.metrics = metrics
        self.problems = problems
        self.runtime = runtime
        self.logger = logger
        self.timer = timer
        self._inflight: dict[bytes, asyncio.Task[Found]] = {}

    async def resolve(self, token: bytes, cache_key: bytes) -> Found:
        try:
            raw = token.decode("ascii")
            parsed = keyformat.parse(raw)
        except (UnicodeDecodeError, InvalidKey):
            return self.problems.invalid_key, None  # malformed: no cache, no Redis
        counts = self.metrics.cache
        if self.cache.is_unknown(cache_key):
            counts["negative_hit"] += 1
            return self.problems.invalid_key, parsed.workspace_id
        counts["miss"] += 1
        task = self._inflight.get(cache_key)
        if task is None:
            lookup = self._lookup(raw, cache_key, parsed.workspace_id, self.timer())
            task = asyncio.ensure_future(lookup)
            self._inflight[cache_key] = task
            task.add_done_callback(lambda _: self._inflight.pop(cache_key, None))
        return await asyncio.shield(task)

    async def _lookup(self, raw: str, cache_key: bytes, workspace_id: str, started: float) -> Found:
        reader = self.runtime.ensure_started()
        sync = self.runtime.limit_sync  # the lookup is also the first sync of its counters
        sent = self.runtime.limiter.clock()
        try:
            with self.metrics.store_call("lookup"):
                policy, leases = await reader.lookup_leased(
                    raw, process=sync.process, stale=sync.stale
                )
        except InvalidKey:
            self.cache.put_unknown(cache_key, workspace_id)
            return self.problems.invalid_key, workspace_id
        except StoreUnavailable:  # (counted by store_call)
            return self.problems.store_unavailable, workspace_id
        except Exception:  # a defect (a record or a script error), not an outage: a 500
            self.metrics.internal_errors.labels("lookup").inc()
            self.logger.exception(
                "internal error looking up a key of workspace %s",
                workspace_id,
                extra={"event": "gateway.internal_error", "operation": "lookup"},
            )
            return self.problems.internal_error, workspace_id
        entry = CachedKey(cache_key, policy, started)
        if policy.limits:
            owner = limits.owner(policy.kind, policy.key_id)
            limiter = self.runtime.limiter
            entry.limits = limiter.plan(policy.workspace_id, owner, policy.limits)
            limiter.first_seen(entry.limits, leases, sent)
        self.cache.put(entry)
        return entry, workspace_id
