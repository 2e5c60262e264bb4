"""The background half of rate limiting: every ``limit_sync_interval``, one pipeline.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import socket
import time

from gateway.limits.limiter import Limiter
from gateway.limits.window_counter import WindowCounter
from gateway.metrics import GatewayMetrics
from policies.errors import StoreUnavailable
from policies.limits.counters import Tally
from policies.storage.async_store import AsyncPolicyStore

ACTIVE_SECONDS = 2.0
RELEASE = "release"  # policies.limits.counters.LEASE_STEP's mode


class LimitSync:
    def __init__(
        self,
        limiter: Limiter,
        metrics: GatewayMetrics,
        logger: logging.Logger,
        *,
        interval: float,
        keep_seconds: float,
        timeout: float,
    ) -> None:
        self.limiter = limiter
        self.metrics = metrics
        self.logger = logger
        self.interval = interval
        self.keep_seconds = keep_seconds  # the cache's TTL: see the module's docstring
        self.timeout = timeout
        # Unique per process and start, so a restarted process is not taken for its past self.
        self.process = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # A process is live (counted in N, its lease set aside) this long after its last sync.
        self.stale = 3 * interval
        # A flag as well as a cancellation (as the listener has): redis-py can swallow a
        # cancellation that lands during a call, and the loop then stops at its next turn.
        self.stopping = False

    async def run(self, reader: AsyncPolicyStore) -> None:
        """Sync until cancelled (failures are counted by the metrics' ``store_call``,
        logged once per outage, retried)."""
        event = asyncio.Event()
        self.limiter.wake = event.set
        if self.limiter.wanted:
            event.set()
        failing = False
        last = -1.0
        while not self.stopping:
            try:
                async with asyncio.timeout(self.interval):
                    await event.wait()
            except TimeoutError:
                pass
            if self.stopping:
                return
            gap = last + self.interval / 4 - time.monotonic()
            if gap > 0:
                await asyncio.sleep(gap)
            event.clear()
            self.limiter.wanted = False
            last = time.monotonic()
            # The requests held for this sync (Limiter.held); later ones wait for the next.
            waiting, self.limiter.waiting = self.limiter.waiting, None
            try:
                await self.sync(reader)
            except asyncio.CancelledError:
                raise
            except StoreUnavailable as exc:
                if not failing:
                    self.logger.warning(
                        "rate-limit sync failed (%s): deciding from local counts until "
                        "Redis answers",
                        exc,
                        extra={"event": "gateway.limit_sync_failed"},
                    )
                failing = True
                continue
            except Exception:  # never let a bug stop the syncs
                self.logger.exception("rate-limit sync failed")
                continue
            finally:
                self.limiter.synced(waiting)
            failing = False

    async def sync(self, reader: AsyncPolicyStore, *, leaving: bool = False) -> int:
        """One sync now; how many counters it carried. ``leaving`` (the process stops):
        every counter's last counts, and its leases and presence given back at once, so a
        restart's new process (or the others) need not wait for them to go stale."""
        limiter = self.limiter
        now = limiter.clock()
        batch: list[tuple[WindowCounter, Tally]] = []
        for key, counter in list(limiter.counters.items()):
            counter.estimate(now)  # rolls its bucket over if one ended
            if counter.pending:  # (the request path's fast lane leaves ``used`` to this)
                counter.used = now
            active = (
                leaving
                or counter.pending
                or counter.pending_previous
                or now - counter.used < ACTIVE_SECONDS
            )
            if active:
                batch.append((counter, counter.tally(now, self.stale)))
            elif counter.synced > -math.inf:  # no longer used: its lease goes back, once
                batch.append((counter, counter.tally(now, self.stale, RELEASE)))
            elif now - counter.used > max(2 * counter.seconds, self.keep_seconds):
                del limiter.counters[key]
        if not batch:
            return 0
        # Releases last: a release does not mark the process live (LEASE_STEP), a sync does.
        batch.sort(key=lambda item: item[1].mode == RELEASE)
        sent = limiter.clock()  # the store's now: the others' view of this process's life
        try:
            with self.metrics.store_call("limits"):
                totals = await reader.sync_limits(
                    [t for _, t in batch],
                    process=self.process,
                    stale=self.stale,
                    leaving=leaving,
                    timeout=self.timeout,
                )
        except BaseException:
            for counter, tally in batch:
                counter.unsynced(tally)
            raise
        for (counter, tally), total in zip(batch, totals, strict=True):
            if tally.mode == RELEASE:
                counter.released()
            else:
                counter.synced_with(tally.bucket, total, sent)
        return len(batch)
