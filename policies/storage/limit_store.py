"""A workspace's rate limits (``PolicyStore.limits``), by owner: ``"pk"``, ``"sk"`` or
``"tk:<key id>"`` (:mod:`policies.limits.rate_limits`).

A thin shell over :mod:`policies.operations.limits`, like :class:`PolicyStore` itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from policies.limits.rate_limits import KEY_SCOPE, Limits, Window
from policies.limits.rate_limits import windows as limit_windows
from policies.operations import limits as limit_ops
from policies.storage.runner import SyncRunner


class LimitStore(SyncRunner):
    """Read, replace and remove the rate limits of a workspace's keys."""

    def of(self, ws: str, owner: str) -> Limits:
        return self.run(limit_ops.get_limits(self.ctx, ws, owner))

    def by_owner(self, ws: str) -> dict[str, Limits]:
        return self.run(limit_ops.list_limits(self.ctx, ws))

    def replace(
        self,
        ws: str,
        owner: str,
        windows: Iterable[str | Window],
        *,
        scope: str = KEY_SCOPE,
        actor: str,
    ) -> Limits:
        """Replace the windows of one scope (the whole key, or an action)."""
        checked = limit_windows(windows)
        return self.run(
            limit_ops.set_limits(self.ctx, ws, owner, checked, scope=scope, actor=actor)
        )

    def remove(self, ws: str, owner: str, *, scope: str = KEY_SCOPE, actor: str) -> Limits:
        return self.run(limit_ops.set_limits(self.ctx, ws, owner, None, scope=scope, actor=actor))
