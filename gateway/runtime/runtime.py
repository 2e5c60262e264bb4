"""The gateway's life on an event loop: its Redis client, background tasks and catalog.

Started by the app's lifespan, or lazily by the first request when the app has none;
stopped by ``lifespan.shutdown`` (or :meth:`Runtime.stop`). Three tasks run meanwhile: the
invalidation listener, the limit sync and the scheduler (:mod:`gateway.runtime.scheduler`).
Redis being away never fails start-up (the gateway answers 503 until it returns); a new
event loop (successive ``TestClient`` sessions) starts afresh with a new client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.config import GatewayConfig
from gateway.keys.cache import DecisionCache
from gateway.keys.cached_key import CachedKey
from gateway.keys.invalidation import Invalidation
from gateway.keys.thrash import ThrashWatch
from gateway.limits.limiter import Limiter
from gateway.limits.notices import LimitNotices
from gateway.limits.sync import LimitSync
from gateway.metrics import GatewayMetrics
from gateway.routing.catalog_loader import CatalogLoader
from gateway.routing.exempt import ExemptConflict
from gateway.routing.router import Router
from gateway.runtime.scheduler import Scheduler
from gateway.usage.last_used import UsageRecorder, flush
from gateway.usage.request_counts import UsageCounter
from policies.catalog.catalog import Catalog
from policies.errors import CatalogError, ConfigError, StoreUnavailable, StoreUnreachable
from policies.keys.crypto import Keyring
from policies.operations.notify_marks import note_rate_limits
from policies.settings import Settings
from policies.storage.async_store import AsyncPolicyStore
from policies.storage.connections import async_client, unreachable

_FLUSH_ON_STOP_SECONDS = 2.0
_STOP_SECONDS = 5.0
EMBEDDED_HINT = "serve the app with `keystile --embedded serve MODULE:APP`, which runs one"


def _stale() -> bool:
    return True


class Runtime:
    """One gateway's event-loop life; holds its catalog loader and its scheduler."""

    def __init__(
        self,
        *,
        settings: Settings,
        keyring: Keyring,
        config: GatewayConfig,
        cache: DecisionCache,
        metrics: GatewayMetrics,
        logger: logging.Logger,
        catalog: Catalog | None,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.keyring = keyring
        self.config = config
        self.cache = cache
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        try:
            self.catalog = CatalogLoader(config, metrics, logger, catalog)
        except CatalogError as exc:
            raise ConfigError(f"catalog=: {exc}") from None
        self.usage = UsageRecorder(clock)
        self.counter = UsageCounter(clock)
        self.notices = LimitNotices(clock)  # rate-limit refusals, noted with each flush
        # Rate limits (gateway.limits.limiter): a stale view asks for a sync after 3 intervals.
        self.limiter = Limiter(
            clock,
            stale_after=3 * config.limit_sync_interval,
            hold_for=config.limit_sync_interval + config.store_timeout,
        )
        self.limit_sync = LimitSync(
            self.limiter,
            metrics,
            logger,
            interval=config.limit_sync_interval,
            keep_seconds=config.cache_ttl,
            timeout=config.store_timeout,
        )
        cache.on_evict = self._evicted
        self.thrash = ThrashWatch(cache, logger)
        self.invalidation = Invalidation(
            cache,
            metrics,
            logger,
            reconnect_min=config.reconnect_min,
            reconnect_max=config.reconnect_max,
            on_catalog_event=self.catalog.reload,
            on_subscribed=self._on_subscribed,
        )
        self.scheduler = Scheduler(
            config, self.invalidation, self.catalog, self.flush_usage, logger, lambda: self.reader
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        # What the request path asks instead of asyncio.get_running_loop() (a getpid()
        # syscall on 3.11, ~15% of a cache hit): True unless started on a loop that is still
        # open and whose ticker still runs. That loop's is_closed() once started; back to
        # _stale by stop() and by the ticker's end (asyncio.run and anyio cancel the tasks
        # of a loop they close), so the next request on a new loop starts afresh either way.
        self.stale: Callable[[], bool] = _stale
        self.reader: AsyncPolicyStore | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- the catalog, for tests and the request path -------------------------------------
    @property
    def router(self) -> Router | None:
        return self.catalog.router

    @property
    def catalog_fingerprint(self) -> str | None:
        return self.catalog.fingerprint

    async def reload_catalog(self) -> None:
        await self.catalog.reload()

    async def load_router(self) -> tuple[Router | None, bool]:
        return await self.catalog.load_router()

    # -- life cycle ----------------------------------------------------------------------
    def ensure_started(self) -> AsyncPolicyStore:
        """Start on the running loop unless already running there (cheap when it is)."""
        loop = asyncio.get_running_loop()
        if self.loop is loop and self.reader is not None:
            return self.reader
        if self.loop is not None:
            self._abandon()
        self.loop = loop
        timeout = self.config.store_timeout
        self.reader = self.catalog.reader = reader = AsyncPolicyStore(
            # The socket timeouts bound each read; the reader's own bounds the whole call,
            # redis-py's reconnects and retries included.
            async_client(self.settings.redis_url, timeout=timeout),
            self.keyring,
            clock=self.clock,
            timeout=timeout,
        )
        self.catalog.lock = asyncio.Lock()
        self.invalidation.stopping = self.limit_sync.stopping = False
        self._tasks = [
            loop.create_task(self.invalidation.listen(reader), name="keystile-gateway-listener"),
            loop.create_task(self._scheduled(loop), name="keystile-gateway-ticker"),
            loop.create_task(self.limit_sync.run(reader), name="keystile-gateway-limits"),
        ]
        self.stale = loop.is_closed
        return reader

    async def start(self) -> None:
        """Start, load the catalog and give the subscription ``start_timeout`` to come up.

        Never raises because Redis is away: the tasks keep trying in the background.
        """
        invalidation = self.invalidation
        attempts = invalidation.attempts
        reader = self.ensure_started()
        try:
            # Connects now and loads the lookup script: the first unknown key then costs
            # one round trip (EVALSHA), not a connection plus a miss plus EVAL.
            await reader.prepare()
        except StoreUnreachable as exc:  # say which Redis, and what to do about it
            message = unreachable(self.settings.redis_url, EMBEDDED_HINT, exc.reason)
            self.logger.warning(
                "%s. Meanwhile keys not cached get 503 store_unavailable.",
                message,
                extra={"event": "gateway.store_unreachable"},
            )
        except StoreUnavailable:
            pass  # Redis answered with an error: logged by the listener, which retries
        except ConfigError:  # another digest secret: every key would be a 401, so stop here
            await self.stop()
            raise
        with contextlib.suppress(StoreUnavailable):
            await self.catalog.ensure_router()
        if isinstance(self.catalog.refused, ExemptConflict):
            raise self.catalog.refused  # a configuration mistake: fail start-up, not each request
        # Wait for the listener's next attempt to finish (either way), not for success.
        await invalidation.wait_until(
            lambda: invalidation.subscribed or invalidation.attempts > attempts,
            self.config.start_timeout,
        )

    async def stop(self) -> None:
        self.stale = _stale
        if self.loop is not asyncio.get_running_loop():
            if self.loop is not None:  # started on a loop that is gone: nothing to await
                self._abandon()
                self.loop = None
            return
        tasks, self._tasks = self._tasks, []
        # A flag as well as a cancellation: redis-py can swallow a cancellation that lands
        # while it connects, and the loops then stop at their next turn.
        self.invalidation.stopping = self.limit_sync.stopping = True
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=_STOP_SECONDS)
            if pending:
                self.logger.warning("gateway background tasks did not stop in time")
        reader, self.reader = self.reader, None
        self.catalog.reader = None
        if reader is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_FLUSH_ON_STOP_SECONDS):
                    await self.flush_usage(reader)
                    # This process's last counts; its leases and presence given back.
                    await self.limit_sync.sync(reader, leaving=True)
            with contextlib.suppress(Exception):
                await reader.client.aclose()
        self.loop = None

    def _abandon(self) -> None:
        """Forget a previous loop's client and tasks (that loop is gone: nothing to await)."""
        self.stale = _stale
        self._tasks = []
        self.reader = self.catalog.reader = None
        self.invalidation.reset()
        self.cache.clear()

    async def lifespan(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the lifespan scope through, starting and stopping around the app's own."""

        async def receive_and_follow() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
            return message

        await app(scope, receive_and_follow, send)

    async def _on_subscribed(self) -> None:
        """Each (re)subscription: whatever Redis we now reach may be new (restarted, failed
        over) and may lack the lookup script; the catalog may have changed meanwhile."""
        reader = self.reader
        if reader is not None:
            with contextlib.suppress(StoreUnavailable):
                await reader.prepare()
        await self.catalog.refresh()

    def _evicted(self, entry: CachedKey) -> None:
        self.usage.evicted(entry)
        self.counter.evicted(entry)
        self.metrics.fold(entry)

    # -- background work -----------------------------------------------------------------
    async def _scheduled(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            await self.scheduler.run()
        finally:
            if self.loop is loop:  # not a newer start's: see stale
                self.stale = _stale

    async def flush_usage(self, reader: AsyncPolicyStore | None = None) -> int:
        """Write last-used times and usage counts now (one pipeline); how many keys' last
        use was written."""
        reader = reader or self.reader
        if reader is None:
            return 0
        # A flush may take longer than one lookup (10,000 active keys: see bench case 9),
        # not longer than its interval.
        timeout = max(self.config.store_timeout, self.config.touch_interval)
        self.thrash.check(self.clock())
        notes = self.notices.take()
        if notes:
            try:
                await reader.run(note_rate_limits(reader.ctx, notes))
            except StoreUnavailable:
                self.notices.restore(notes)
        return await flush(self.usage, self.counter, self.cache, self.metrics, reader, timeout)
