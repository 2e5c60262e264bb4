"""A workspace's token lifetime policy and unused tokens (``PolicyStore.lifetime``).

A thin shell over :mod:`policies.operations.lifetime` and
:mod:`policies.operations.unused_tokens`, like :class:`PolicyStore` itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from policies.lifetime import LifetimePolicy, UnusedPage, UnusedRevocation
from policies.operations import lifetime, unused_tokens
from policies.storage.runner import SyncRunner


class LifetimeStore(SyncRunner):
    """The lifetime policy (:mod:`policies.lifetime`), and the tokens unused for N days."""

    def policy(self, ws: str) -> LifetimePolicy:
        return self.run(lifetime.get_policy(self.ctx, ws))

    def set_policy(
        self, ws: str, policy: LifetimePolicy, *, actor: str
    ) -> tuple[LifetimePolicy, bool]:
        """The policy replaced, and whether anything changed."""
        return self.run(lifetime.set_policy(self.ctx, ws, policy, actor=actor))

    def unused(self, ws: str, days: int, *, offset: int = 0, limit: int = 50) -> UnusedPage:
        return self.run(unused_tokens.unused_page(self.ctx, ws, days, offset=offset, limit=limit))

    def revoke_unused(
        self, ws: str, key_ids: Iterable[str], days: int, *, actor: str
    ) -> UnusedRevocation:
        return self.run(unused_tokens.revoke_unused(self.ctx, ws, key_ids, days, actor=actor))
