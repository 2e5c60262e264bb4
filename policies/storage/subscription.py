"""Where a reader listens for invalidation events: one pub/sub connection per attempt.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio
import redis.asyncio.cluster
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from policies.storage.connections import HEALTH_CHECK_SECONDS
from policies.storage.schema import EVENTS_CHANNEL

# What a node connection copies from the cluster client's options: credentials, reply
# decoding and the time limits; the rest (the cluster's own plumbing) does not apply.
_NODE_OPTIONS = (
    "username",
    "password",
    "decode_responses",
    "encoding",
    "socket_timeout",
    "socket_connect_timeout",
)


class EventSubscriber:
    """``async with subscriber.subscription() as pubsub``: subscribed to the events channel.

    Each call opens a fresh connection (on a cluster, to the next node in turn) and closes
    it on exit; a failure to connect or subscribe is raised from the ``async with``.
    """

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self._turn = random.randrange(1 << 16)
        self.node: tuple[str, int] | None = None  # the cluster node of the last attempt

    @contextlib.asynccontextmanager
    async def subscription(self) -> AsyncIterator[PubSub]:
        owner: redis.asyncio.Redis | None = None
        if isinstance(self.client, redis.asyncio.cluster.RedisCluster):
            owner = self._next_node(self.client)
            pubsub = owner.pubsub()
        else:
            pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(EVENTS_CHANNEL)
            yield pubsub
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
            if owner is not None:
                with contextlib.suppress(Exception):
                    await owner.aclose()

    def _next_node(self, cluster: redis.asyncio.cluster.RedisCluster) -> redis.asyncio.Redis:
        # The seed nodes of the URL, plus every node the client has discovered since.
        seeds = cluster.nodes_manager.startup_nodes.values()
        known = {node.name: node for node in [*seeds, *cluster.get_nodes()]}
        node = [known[name] for name in sorted(known)][self._turn % len(known)]
        self._turn += 1
        self.node = (node.host, int(node.port))
        options: dict[str, Any] = {
            name: node.connection_kwargs[name]
            for name in _NODE_OPTIONS
            if name in node.connection_kwargs
        }
        return redis.asyncio.Redis(
            host=node.host,
            port=int(node.port),
            health_check_interval=HEALTH_CHECK_SECONDS,
            # No retries against the same node: a dead node must fail this attempt at once,
            # so that the next one goes to another node.
            retry=Retry(NoBackoff(), 0),  # type: ignore[no-untyped-call,unused-ignore]
            **options,
        )
