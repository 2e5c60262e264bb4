"""Test helpers for the store: the gateway's read path, driven synchronously."""

from __future__ import annotations

import threading

from policies import InvalidKey, KeyPolicy, PolicyStore
from policies.connect import sync_client
from policies.operations import gateway


def lookup(store: PolicyStore, key: str) -> KeyPolicy | None:
    """What the gateway would get for ``key`` (None: refused)."""
    try:
        return store.run(gateway.lookup(store.ctx, key))
    except InvalidKey:
        return None


def rotate_concurrently(
    store: PolicyStore, redis_url: str, ws: str, threads: int = 20
) -> list[str]:
    """Rotate ``ws``'s publishable key from ``threads`` threads at once, each with its own
    connection; returns the keys they were issued."""
    issued: list[str] = []
    barrier = threading.Barrier(threads)

    def rotate() -> None:
        own = PolicyStore(sync_client(redis_url), store.ctx.keyring)
        barrier.wait()
        issued.append(own.rotate_publishable_key(ws, actor="thread"))

    workers = [threading.Thread(target=rotate) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return issued
