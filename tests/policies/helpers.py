"""Test helpers for the store: the gateway's read path, driven synchronously."""

from __future__ import annotations

from policies import InvalidKey, KeyPolicy, PolicyStore
from policies.operations import gateway


def lookup(store: PolicyStore, key: str) -> KeyPolicy | None:
    """What the gateway would get for ``key`` (None: refused)."""
    try:
        return store.run(gateway.lookup(store.ctx, key))
    except InvalidKey:
        return None
