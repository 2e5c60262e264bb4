"""Helpers the gateway tests share (fixtures stay in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import redis

from gateway import KeyGateMiddleware

# make_gate's type: ``make_gate(app=None, **options)``.
Factory = Callable[..., KeyGateMiddleware]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def kill_pubsub(client: redis.Redis) -> int:
    """Kill every pub/sub connection (on every node of a cluster); how many were killed."""
    if isinstance(client, redis.RedisCluster):
        killed = client.client_kill_filter(
            _type="pubsub", target_nodes=redis.RedisCluster.ALL_NODES
        )
        return sum(int(n) for n in killed.values())
    return int(client.client_kill_filter(_type="pubsub"))
