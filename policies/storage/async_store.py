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
from policies.limits.counters import SYNC, Tally, Totals
from policies.operations import deployment, lookup, rules, usage
from policies.operations.base import Context
from policies.storage.driver import Operation, T, load_scripts_async, run_async
from policies.storage.lua import LOOKUP
from policies.storage.subscription import EventSubscriber
from policies.storage.values import KeyPolicy


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

    @contextlib.asynccontextmanager
    async def _deadline(self) -> AsyncIterator[None]:
        if self.timeout is None:
            yield
            return
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except TimeoutError:
            raise StoreUnreachable(f"no answer within {self.timeout:g} s") from None

    async def lookup(self, raw_key: str) -> KeyPolicy:
        """One round trip; raises InvalidKey (any failure) or StoreUnavailable."""
        return await self.run(lookup.lookup(self.ctx, raw_key))

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
        try:
            async with asyncio.timeout(timeout or self.timeout):
                await run_async(self.client, usage.record(self.ctx, last_used, counts))
        except TimeoutError:
            raise StoreUnreachable(
                f"flush: no answer within {timeout or self.timeout:g} s"
            ) from None

    async def sync_limits(
        self, tallies: list[Tally], *, process: str, stale: float, timeout: float | None = None
    ) -> list[Totals]:
        """Add rate-limit counts and read the totals back (:mod:`policies.limits.counters`)."""
        try:
            async with asyncio.timeout(timeout or self.timeout):
                operation = rate_counters.sync(
                    tallies, now=self.ctx.clock(), process=process, stale=stale
                )
                return await run_async(self.client, operation)
        except TimeoutError:
            raise StoreUnreachable("limits: no answer in time") from None

    async def load_catalog(self) -> Catalog | None:
        return await self.run(rules.load_catalog(self.ctx))

    def subscription(self) -> contextlib.AbstractAsyncContextManager[PubSub]:
        """A connection subscribed to the events channel (:mod:`.subscription`)."""
        return self.events.subscription()
