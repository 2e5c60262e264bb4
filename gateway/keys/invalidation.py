"""Keeping the decision cache honest: the event listener and the periodic version check.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from gateway.keys.cache import DecisionCache
from gateway.metrics import GatewayMetrics
from policies.errors import StoreUnavailable
from policies.storage.async_store import AsyncPolicyStore
from policies.storage.events import parse_event

# How long one read of the subscription waits: it is also how often redis-py gets the
# chance to send its health-check PING, which detects a silently dead connection.
_POLL_SECONDS = 1.0


class Invalidation:
    def __init__(
        self,
        cache: DecisionCache,
        metrics: GatewayMetrics,
        logger: logging.Logger,
        *,
        reconnect_min: float,
        reconnect_max: float,
        on_catalog_event: Callable[[], Awaitable[None]],
        on_subscribed: Callable[[], Awaitable[None]],
    ) -> None:
        self.cache = cache
        self.metrics = metrics
        self.logger = logger
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.on_catalog_event = on_catalog_event
        self.on_subscribed = on_subscribed
        self.subscribed = False
        self.subscriptions = 0  # confirmations received; > 1 means we re-subscribed
        self.attempts = 0  # connection attempts finished, successful or not
        self.checks_started = 0
        self.checks_done = 0
        self.stopping = False
        self._changed: asyncio.Event | None = None

    # -- the listener (a task for the middleware's lifetime) -----------------------------
    async def listen(self, reader: AsyncPolicyStore) -> None:
        """Until :attr:`stopping` is set: subscribe, apply events, reconnect on failure.

        A flag as well as a cancellation: redis-py can swallow a cancellation that lands
        while it (re)connects; see :func:`must_stop`."""
        failures = 0  # in a row; reset by a subscription confirmation
        while not self.must_stop():
            try:
                async with reader.subscription() as pubsub:
                    while not self.must_stop():
                        message = await pubsub.get_message(timeout=_POLL_SECONDS)
                        if message is None:
                            continue
                        if message["type"] == "subscribe":
                            failures = 0
                            await self._subscribed()
                        elif message["type"] == "message":
                            await self.apply(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure means: reconnect (never kill the task)
                # Loud once per outage, quiet while it lasts.
                level = logging.WARNING if self.subscribed or not self.attempts else logging.DEBUG
                self.logger.log(
                    level,
                    "invalidation subscription lost (%s); reconnecting",
                    _reason(exc),
                    extra={"event": "gateway.subscription_lost", "reason": _reason(exc)},
                )
            finally:
                self._unsubscribed()
            if self.must_stop():
                return
            failures += 1
            # A first retry at once: one dropped connection (a killed client, a failover,
            # a dead cluster node) usually reconnects at once, and events are missed while
            # unsubscribed. Failing again, Redis is likely away: back off, with equal
            # jitter so processes that lost Redis together do not return in lockstep.
            if failures > 1:
                delay = min(self.reconnect_min * 2 ** (failures - 2), self.reconnect_max)
                await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))

    @property
    def store_ok(self) -> bool:
        """The last version check reached Redis (the cache is not degraded)."""
        return not self.cache.degraded

    def must_stop(self) -> bool:
        """Stop requested, or this task cancelled even if redis-py swallowed the error.

        (A swallowed cancellation leaves ``Task.cancelling()`` set; without this check the
        loop would go on, and ``asyncio.run`` would wait for it forever at exit.)
        """
        if self.stopping:
            return True
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        return False

    async def _subscribed(self) -> None:
        dropped = self.cache.clear()
        if self.subscriptions:
            self.metrics.invalidations.labels("resubscribe").inc()
            self.logger.info(
                "invalidation subscription restored; cleared %d cached keys",
                dropped,
                extra={"event": "gateway.resubscribed", "dropped": dropped},
            )
        self.subscriptions += 1
        # Caught up before it counts as subscribed: whoever waits for the subscription
        # (start-up, operators, tests) then finds this catch-up's store calls done.
        await self.on_subscribed()  # e.g. the catalog may have changed while we were away
        self.attempts += 1
        if not self.subscribed:
            self.subscribed = True
            self.metrics.subscribed.inc()
        self._notify()

    def reset(self) -> None:
        """Forget the connection state of a loop that is gone (its task died with it)."""
        if self.subscribed:
            self.subscribed = False
            self.metrics.subscribed.dec()
        self._changed = None

    def _unsubscribed(self) -> None:
        if self.subscribed:
            self.subscribed = False
            self.metrics.subscribed.dec()
        else:
            self.attempts += 1
        self._notify()

    async def apply(self, data: object) -> None:
        """Apply one channel message (ignored if it is not one of ours)."""
        event = parse_event(data)
        if event is None:
            return
        if event.workspace_id is None:
            self.metrics.invalidations.labels("catalog").inc()
            await self.on_catalog_event()
        else:
            self.cache.evict_workspace(event.workspace_id, event.version)
            self.metrics.invalidations.labels("event").inc()
        self._notify()

    # -- the version check (called every check_interval) ---------------------------------
    async def check(self, reader: AsyncPolicyStore) -> bool:
        """Compare cached versions with the store's; False if Redis could not be asked."""
        self.checks_started += 1
        workspace_ids = self.cache.workspace_ids()
        checked_at = self.cache.timer()
        try:
            if workspace_ids:
                with self.metrics.store_call("versions"):
                    versions = await reader.versions(workspace_ids)
            else:
                versions = {}
        except StoreUnavailable as exc:
            if self.store_ok:
                self.logger.warning(
                    "version check failed (%s): cached keys serve until their stale bound",
                    exc,
                    extra={"event": "gateway.store_unavailable"},
                )
            self.cache.check_failed()  # from now on requests test each entry's times
            return False
        recovered = not self.store_ok
        dropped = self.cache.reconcile(versions, checked_at)
        if dropped:
            self.metrics.invalidations.labels("version_check").inc(dropped)
        if recovered:
            self.logger.info("version check succeeded again", extra={"event": "gateway.store_ok"})
        self.checks_done = self.checks_started
        self._notify()
        return True

    # -- waiting, for start-up, operators and tests --------------------------------------
    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds, re-testing it after every event, check and
        (re)subscription; False if ``timeout`` seconds pass first."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    if self._changed is None:
                        self._changed = asyncio.Event()
                    await self._changed.wait()
        except TimeoutError:
            return predicate()
        return True

    async def wait_version(self, workspace_id: str, version: int, timeout: float = 10.0) -> bool:
        """Wait until this gateway has seen ``workspace_id`` reach ``version``."""
        return await self.wait_until(
            lambda: self.cache.known_version(workspace_id) >= version, timeout
        )

    async def wait_subscribed(self, timeout: float = 10.0) -> bool:
        return await self.wait_until(lambda: self.subscribed, timeout)

    async def wait_check(self, timeout: float = 10.0) -> bool:
        """Wait for a version check that started after this call to succeed."""
        target = self.checks_started + 1
        return await self.wait_until(lambda: self.checks_done >= target, timeout)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None


def _reason(exc: BaseException) -> str:
    # Our own errors are written to be shown; redis-py's may name hosts: class name only.
    return str(exc) if isinstance(exc, StoreUnavailable) else type(exc).__name__
