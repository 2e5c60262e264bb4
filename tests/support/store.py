"""Test helpers for the store: the gateway's read path, driven synchronously."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import redis

from policies import InvalidKey, KeyKind, KeyPolicy, PolicyStore
from policies.backup.document import sign
from policies.operations import lookup as store_lookup
from policies.storage import schema
from policies.storage.connections import sync_client
from policies.storage.values import CreatedWorkspace, TokenInfo


def lookup(store: PolicyStore, key: str) -> KeyPolicy | None:
    """What the gateway would get for ``key`` (None: refused)."""
    try:
        return store.run(store_lookup.lookup(store.ctx, key))
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


def big_backup(store: PolicyStore, tokens: int) -> tuple[CreatedWorkspace, dict[str, Any]]:
    """A real workspace's signed backup with ``tokens`` more tokens (credential, metadata and
    last use each: 3 entries per token), signed as this deployment's export would be."""
    created = store.create_workspace("Big", actor="t")
    document = json.loads(json.dumps(store.export_workspace(created.workspace_id, actor="t")))
    now = store.ctx.clock()
    for n in range(tokens):
        digest = hashlib.sha256(f"token {n}".encode()).hexdigest()
        kid = digest[:12]
        info = TokenInfo(kid, f"t{n}", now, None, None)
        record = schema.credential_record(KeyKind.TOKEN, kid, now, name=info.name)
        document["keys"][digest] = record
        document["tokens"][kid] = schema.token_metadata(info, digest)
        document["lastused"][kid] = repr(now)
    return created, sign(store.ctx.keyring, document)


def forget(client: redis.Redis, ws: str) -> None:
    """Remove every key of ``ws``, as if its Redis had been lost (on a cluster too: SCAN
    visits every node, where KEYS asks one)."""
    for key in list(client.scan_iter(match=f"ks:{{{ws}}}:*")):
        client.delete(key)
    client.srem(schema.WORKSPACES, ws)
