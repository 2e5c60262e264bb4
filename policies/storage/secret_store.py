"""A workspace's secrets (``PolicyStore.secrets``): stored encrypted, revealed audited.

A thin shell over :mod:`policies.operations.secrets`, like :class:`PolicyStore` itself.
"""

from __future__ import annotations

from policies.operations import secrets
from policies.storage.runner import SyncRunner


class SecretStore(SyncRunner):
    """Put, name, version, reveal and delete a workspace's secrets."""

    def put(self, ws: str, name: str, value: str, *, actor: str, replace: bool = True) -> None:
        """Set a secret; with ``replace=False`` raises AlreadyExists if the name is taken."""
        self.run(secrets.put_secret(self.ctx, ws, name, value, actor=actor, replace=replace))

    def names(self, ws: str) -> list[str]:
        return self.run(secrets.list_secrets(self.ctx, ws))

    def version(self, ws: str, name: str) -> str:
        return self.run(secrets.secret_version(self.ctx, ws, name))

    def reveal(self, ws: str, name: str, *, actor: str, version: str | None = None) -> str:
        """The value; with ``version``, only if it is still that version (else NotFound)."""
        return self.run(secrets.reveal_secret(self.ctx, ws, name, actor=actor, version=version))

    def delete(self, ws: str, name: str, *, actor: str) -> None:
        self.run(secrets.delete_secret(self.ctx, ws, name, actor=actor))
