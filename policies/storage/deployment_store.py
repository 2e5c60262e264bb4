"""The deployment's own store (``PolicyStore.deployment``): its secrets and its audit.

A thin shell over :mod:`policies.operations.deployment`, like :class:`PolicyStore` itself.
"""

from __future__ import annotations

from policies.operations import audit, deployment
from policies.storage.runner import SyncRunner
from policies.storage.values import AuditEntry


class DeploymentStore(SyncRunner):
    """The digest secret's check, the master keys' status and rewrap, the deployment's audit."""

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
