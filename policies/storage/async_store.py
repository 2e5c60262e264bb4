"""The asynchronous store: what the gateway asks of Redis (lookups, versions, the catalog)
and writes (last-used times), over redis.asyncio.

Same operations as :class:`policies.storage.sync_store.PolicyStore` (the synchronous driver), driven
without blocking the loop.
With a ``timeout``, every operation as a whole (connecting, redis-py's own retries, the
reply) must finish within it or fail as :class:`StoreUnavailable`: a slow Redis then costs
a caller at most that long, instead of requests piling up behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping

import redis.asyncio
from redis.asyncio.client import PubSub

from policies.catalog.catalog import Catalog
from policies.errors import StoreUnreachable
from policies.keys.crypto import Keyring
from policies.limits import counters as rate_counters
from policies.limits.counters import SYNC, FirstLeases, Tally, Totals
from policies.operations import deployment, lookup, rules, usage
from policies.operations.base import Context
from policies.storage.driver import Operation, T, load_scripts_async, run_async
from policies.storage.lua import LOOKUP
from policies.storage.subscription import EventSubscriber
from policies.storage.values import KeyPolicy

LATE_LOOP = 0.05  # a timer this late (s) means the event loop, not Redis, was slow


def timed_out(what: str, limit: float, late: float) -> StoreUnreachable:
    """Why a store call timed out: the loop's lateness at the deadline tells a process too
    busy to read Redis's answer (CPU-bound, e.g. under a saturating load) from a slow Redis."""
    said = f"{what}no answer within {limit:g} s"
    if late >= max(LATE_LOOP, limit / 5):
        return StoreUnreachable(
            f"{said}; its event loop ran {late:.2f} s late, so Redis may be healthy",
            headline="this process is saturated (CPU)",
        )
    return StoreUnreachable(f"{said}; the event loop was on time: Redis or the network is slow")


@contextlib.asynccontextmanager
async def deadline(limit: float | None, what: str = "") -> AsyncIterator[None]:
    """Fail as StoreUnreachable past ``limit`` seconds (None: no limit), saying whether this
    process's event loop was late at the deadline (a saturated process) or Redis was."""
    if limit is None:
        yield
        return
    loop = asyncio.get_running_loop()
    at = loop.time() + limit
    try:
        async with asyncio.timeout_at(at):
            yield
    except TimeoutError:
        raise timed_out(what, limit, loop.time() - at) from None


class AsyncPolicyStore:
    def __init__(
        self,
        client: redis.asyncio.Redis,
        keyring: Keyring,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float | None = None,
    ) -> None:
        self.client = client
        self.ctx = Context(keyring, clock)
        self.timeout = timeout
        self.events = EventSubscriber(client)

    async def run(self, operation: Operation[T]) -> T:
        async with self._deadline():
            return await run_async(self.client, operation)

    def _deadline(
        self, timeout: float | None = None, what: str = ""
    ) -> contextlib.AbstractAsyncContextManager[None]:
        return deadline(timeout or self.timeout, what)

    async def lookup(self, raw_key: str) -> KeyPolicy:
        """One round trip; raises InvalidKey (any failure) or StoreUnavailable."""
        return await self.run(lookup.lookup(self.ctx, raw_key))

    async def lookup_leased(
        self, raw_key: str, *, process: str, stale: float
    ) -> tuple[KeyPolicy, FirstLeases]:
        """:meth:`lookup`, and ``process``'s first leases of the owner's rate-limit counters
        (:func:`policies.operations.lookup.lookup_leased`): the same one round trip."""
        return await self.run(lookup.lookup_leased(self.ctx, raw_key, process=process, stale=stale))

    async def prepare(self) -> None:
        """Load the lookup script now, so the first unknown key costs one round trip; and
        raise ConfigError if the digest secret is not the one the store was set up with
        (read only: the gateway never stamps the check value)."""
        async with self._deadline():
            await load_scripts_async(self.client, (LOOKUP, SYNC))
        await self.run(deployment.check_digest_secret(self.ctx, stamp=False))

    async def versions(self, workspace_ids: Iterable[str]) -> dict[str, int]:
        return await self.run(lookup.versions(self.ctx, workspace_ids))

    async def touch(self, usage: Mapping[str, Mapping[str, float]]) -> None:
        await self.run(lookup.touch(self.ctx, usage))

    async def record(
        self,
        last_used: Mapping[str, Mapping[str, float]],
        counts: Mapping[str, Mapping[str, int]],
        timeout: float | None = None,
    ) -> None:
        """Last-used times and usage counts, one pipeline (:mod:`policies.operations.usage`).

        Bounded by ``timeout`` (default: the reader's), for a flush of many keys can take
        longer than one lookup may."""
        async with self._deadline(timeout, "flush: "):
            await run_async(self.client, usage.record(self.ctx, last_used, counts))

    async def sync_limits(
        self,
        tallies: list[Tally],
        *,
        process: str,
        stale: float,
        timeout: float | None = None,
        leaving: bool = False,
    ) -> list[Totals]:
        """Add rate-limit counts and read the totals back (:mod:`policies.limits.counters`)."""
        async with self._deadline(timeout, "limits: "):
            operation = rate_counters.sync(
                tallies, now=self.ctx.clock(), process=process, stale=stale, leaving=leaving
            )
            return await run_async(self.client, operation)

    async def load_catalog(self) -> Catalog | None:
        return await self.run(rules.load_catalog(self.ctx))

    async def load_catalog_text(self) -> str | None:
        return await self.run(rules.load_catalog_text(self.ctx))

    def subscription(self) -> contextlib.AbstractAsyncContextManager[PubSub]:
        """A connection subscribed to the events channel (:mod:`.subscription`)."""
        return self.events.subscription()
