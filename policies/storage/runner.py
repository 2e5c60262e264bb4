"""What each sync store is built on: operations run on one client, in one context.

The stores (``PolicyStore`` and its collaborators ``otp``, ``secrets``, ``lifetime``,
``limits``, ``deployment``) are thin shells over :mod:`policies.operations`.
"""

from __future__ import annotations

import redis

from policies.operations.base import Context
from policies.storage.driver import Operation, T, run


class SyncRunner:
    """An operation's sync driver, bound to a client and a context."""

    def __init__(self, client: redis.Redis, ctx: Context) -> None:
        self.client = client
        self.ctx = ctx

    def run(self, operation: Operation[T]) -> T:
        return run(self.client, operation)
