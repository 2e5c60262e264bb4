"""The deployment's own store (``PolicyStore.deployment``): its secrets and its audit.

A thin shell over :mod:`policies.operations.deployment`, like :class:`PolicyStore` itself.
"""

from __future__ import annotations

import redis

from policies.operations import audit, deployment
from policies.operations.base import Context
from policies.storage.driver import Operation, T, run
from policies.storage.values import AuditEntry


class DeploymentStore:
    """The digest secret's check, the master keys' status and rewrap, the deployment's audit."""

    def __init__(self, client: redis.Redis, ctx: Context) -> None:
        self.client = client
        self.ctx = ctx

    def run(self, operation: Operation[T]) -> T:
        return run(self.client, operation)

    def check_digest_secret(self, *, stamp: bool = True) -> None:
        """Raise ConfigError if the digest secret is not the one this Redis was set up with."""
        self.run(deployment.check_digest_secret(self.ctx, stamp=stamp))

    def secrets_status(self) -> deployment.SecretsStatus:
        return self.run(deployment.status(self.ctx))

    def rewrap_secrets(
        self, *, actor: str, progress: deployment.Progress | None = None
    ) -> deployment.RewrapReport:
        return self.run(deployment.rewrap(self.ctx, actor=actor, progress=progress))

    def audit_tail(self, count: int = 20) -> list[AuditEntry]:
        """The deployment's own entries (catalog loads, rewraps), newest first."""
        return self.run(audit.deployment_tail(self.ctx, count))
