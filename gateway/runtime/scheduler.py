"""The gateway's ticker: on a fixed schedule of ``check_interval`` the version check; every
:data:`CATALOG_CHECK_SECONDS` a reload of the store's catalog if it changed; every
``touch_interval`` the flush of last-used times and usage counts.

Held by :class:`gateway.runtime.runtime.Runtime`, which starts it as a task; a failed step is
counted and logged where it happened, and the schedule goes on: nothing but a stop ends it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from gateway.config import GatewayConfig
from gateway.keys.invalidation import Invalidation
from gateway.routing.catalog_loader import CatalogLoader
from policies.errors import StoreUnavailable
from policies.storage.async_store import AsyncPolicyStore

# The store's catalog is reloaded on its event and on every (re)subscription; this periodic
# check only bounds the life of a stale router if a catalog message were lost on a live
# connection. (A few KB of JSON to parse: not worth doing every check_interval.)
CATALOG_CHECK_SECONDS = 5.0


class Scheduler:
    """Runs the periodic work of one :class:`~gateway.runtime.runtime.Runtime`."""

    def __init__(
        self,
        config: GatewayConfig,
        invalidation: Invalidation,
        catalog: CatalogLoader,
        flush_usage: Callable[[AsyncPolicyStore], Awaitable[int]],
        logger: logging.Logger,
        reader: Callable[[], AsyncPolicyStore | None],
    ) -> None:
        self.config = config
        self.invalidation = invalidation
        self.catalog = catalog
        self.flush_usage = flush_usage
        self.logger = logger
        self.reader = reader  # the runtime's current reader (None once stopped)

    async def run(self) -> None:
        """Until stopped: never returns early because a step failed."""
        config = self.config
        # A fixed schedule, not a sleep after each check: the check's own duration must
        # not stretch the period the staleness bound is made of.
        next_check = time.monotonic() + config.check_interval
        next_flush = time.monotonic() + config.touch_interval
        next_catalog = time.monotonic() + CATALOG_CHECK_SECONDS
        while not self.invalidation.must_stop():
            await asyncio.sleep(max(0.0, next_check - time.monotonic()))
            next_check += config.check_interval
            if next_check < time.monotonic():  # fell behind (a slow Redis): skip, no burst
                next_check = time.monotonic() + config.check_interval
            reader = self.reader()
            if reader is None or self.invalidation.must_stop():
                return
            try:
                reached = await self.invalidation.check(reader)
                catalog = self.catalog
                due = catalog.router is None or catalog.due
                if reached and (due or time.monotonic() >= next_catalog):
                    next_catalog = time.monotonic() + CATALOG_CHECK_SECONDS
                    await catalog.reload()  # a no-op for a catalog given in code
                    catalog.due = False
                if time.monotonic() >= next_flush:
                    next_flush = time.monotonic() + config.touch_interval
                    await self.flush_usage(reader)
            except asyncio.CancelledError:
                raise
            except StoreUnavailable:
                pass  # counted and logged where it happened; try again next tick
            except Exception:  # never let a bug stop the checks
                self.logger.exception("gateway background check failed")
