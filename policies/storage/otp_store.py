"""The one-time passwords' store (``PolicyStore.otp``): the admin plugin's challenges.

A thin shell over :mod:`policies.operations.otp`, like :class:`PolicyStore` itself.
"""

from __future__ import annotations

from policies.operations import otp as otp_ops
from policies.otp.codes import DEFAULT_POLICY, IssuedOtp, OtpPolicy
from policies.storage.runner import SyncRunner


class OtpStore(SyncRunner):
    """Issue, verify and cancel the challenges of (admin, workspace, action)."""

    def issue(
        self,
        ws: str,
        admin_id: str,
        action: str,
        *,
        policy: OtpPolicy = DEFAULT_POLICY,
        bound: str = "",
    ) -> IssuedOtp:
        """A new challenge for (admin, workspace, action[, what it is bound to]); raises
        OtpThrottled."""
        return self.run(otp_ops.issue(self.ctx, ws, admin_id, action, policy, bound))

    def verify(
        self, ws: str, admin_id: str, action: str, code: str, *, actor: str, bound: str = ""
    ) -> None:
        """Consume the challenge if ``code`` is right; raises OtpRejected (audited) if not."""
        self.run(otp_ops.verify(self.ctx, ws, admin_id, action, code, actor=actor, bound=bound))

    def cancel(self, issued: IssuedOtp) -> None:
        """Take back a challenge whose mail could not be sent."""
        self.run(otp_ops.cancel(self.ctx, issued))
