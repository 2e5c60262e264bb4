"""The asynchronous reader: what the gateway asks of the store, over redis.asyncio.

Same operations as :class:`policies.store.PolicyStore`, driven without blocking the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

import redis.asyncio

from policies.calls import Operation, T, run_async
from policies.catalog import Catalog
from policies.crypto import Keyring
from policies.operations import gateway, rules
from policies.operations.base import Context
from policies.records import KeyPolicy


class PolicyReader:
    def __init__(
        self,
        client: redis.asyncio.Redis,
        keyring: Keyring,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.ctx = Context(keyring, clock)

    async def run(self, operation: Operation[T]) -> T:
        return await run_async(self.client, operation)

    async def lookup(self, raw_key: str) -> KeyPolicy:
        """One round trip; raises InvalidKey (any failure) or StoreUnavailable."""
        return await self.run(gateway.lookup(self.ctx, raw_key))

    async def versions(self, workspace_ids: Iterable[str]) -> dict[str, int]:
        return await self.run(gateway.versions(self.ctx, workspace_ids))

    async def touch(self, usage: Mapping[str, Mapping[str, float]]) -> None:
        await self.run(gateway.touch(self.ctx, usage))

    async def load_catalog(self) -> Catalog | None:
        return await self.run(rules.load_catalog(self.ctx))
