"""The glue between a click and an unlocked action: issue a challenge, mail it, verify it.

Storage, binding and counting are the store's (:mod:`policies.operations.otp`); this
module adds the mail and the audit entries around it. A mail that cannot be sent (whatever
the mailer raised) takes its challenge back, so the admin can simply try again once the
server is fixed: no cooldown, no code left that nobody received.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from admin_plugin.identity import AdminIdentity
from admin_plugin.mailer import Mailer, MailError
from policies import PolicyStore
from policies.errors import KeystileError
from policies.otp.codes import DEFAULT_POLICY, OtpPolicy, normalize_code

log = logging.getLogger(__name__)

SDK_REVEAL = "sdk_key.reveal"
SDK_ROLL = "sdk_key.roll"
SDK_RESTRICT = "sdk_key.restrict"  # its allow-lists (admin_plugin.views.restrictions)
# A token is a working credential: minting one needs the proof that revealing one does.
TOKEN_CREATE = "token.create"  # noqa: S105 - an action name, not a password
_SECRET_REVEAL = "secret.reveal"  # noqa: S105 - an action name, not a password


# Security notifications (admin_plugin.views.notify): each sends data out.
NOTIFY_DESCRIPTIONS = {
    "notify.endpoint": "set the workspace's webhook endpoint",
    "notify.secret": "replace the webhook signing secret",
    "notify.test": "send a test event to the webhook endpoint",
    "notify.emails": "set who gets security notifications by email",
}


def secret_reveal(name: str) -> str:
    return f"{_SECRET_REVEAL}:{name}"


def describe(action: str) -> str:
    """What a code unlocks, in the words of the mail and the modal."""
    if action == SDK_REVEAL:
        return "reveal the SDK access key"
    if action == SDK_ROLL:
        return "roll (replace) the SDK access key"
    if action == SDK_RESTRICT:
        return "change what the SDK access key may do and where from"
    if action == TOKEN_CREATE:
        return "create a workspace token"
    if action.startswith(_SECRET_REVEAL + ":"):
        return f"reveal the secret {action.partition(':')[2]}"
    return NOTIFY_DESCRIPTIONS.get(action, action)


def mask_email(address: str) -> str:
    """``a•••@example.com``: enough for the admin to recognise, little for an onlooker."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}•••@{domain}"


class BadCode(KeystileError):
    """What was typed cannot be a code at all; it costs no attempt."""


@dataclass(frozen=True, slots=True)
class SentCode:
    sent_to: str
    expires_in: int
    resend_after: int


class OtpFlow:
    def __init__(
        self,
        store: PolicyStore,
        mailer: Mailer,
        policy: OtpPolicy = DEFAULT_POLICY,
        *,
        product: str = "Keystile",
    ) -> None:
        self.store = store
        self.mailer = mailer
        self.policy = policy
        self.product = product

    def send(
        self,
        admin: AdminIdentity,
        ws: str,
        action: str,
        workspace_name: str,
        *,
        bound: str = "",
        detail: str = "",
    ) -> SentCode:
        """Issue and mail a code; raises OtpThrottled, MailError (nothing left behind).
        ``bound``: what else the code is bound to (it verifies only with the same);
        ``detail``: a line for the mail naming it (a token's name and expiry)."""
        issued = self.store.otp.issue(ws, admin.id, action, policy=self.policy, bound=bound)
        minutes = round(self.policy.ttl_seconds / 60)
        body = (
            f"Hello {admin.name or admin.email},\n\n"
            f"Your {self.product} verification code is:\n\n"
            f"    {issued.code}\n\n"
            f'It lets you {describe(action)} in the workspace "{workspace_name}" ({ws}).\n'
            + (f"{detail}\n" if detail else "")
            + f"It works once and expires in {minutes} minute{'s' if minutes != 1 else ''}.\n\n"
            "If you did not ask for it, do not share it with anyone: someone may be using "
            "your admin session.\n"
        )
        try:
            self.mailer.send(admin.email, f"{self.product} verification code", body)
        except Exception as exc:  # any mailer's failure, the host's own included
            self.store.otp.cancel(issued)
            self.store.audit(ws, admin.actor, "otp.mail_failed", {"for": action})
            if isinstance(exc, MailError):
                log.warning("one-time password mail to admin %s failed: %s", admin.id, exc)
                raise
            # Named, not logged with its args or traceback: they may hold the mail's body.
            log.error("one-time password mailer failed for admin %s: %s", admin.id, type(exc))
            raise MailError("The code could not be sent: the mailer failed.") from None
        self.store.audit(ws, admin.actor, "otp.sent", {"for": action})
        return SentCode(
            sent_to=mask_email(admin.email),
            expires_in=int(self.policy.ttl_seconds),
            resend_after=int(issued.resend_after),
        )

    def verify(
        self, admin: AdminIdentity, ws: str, action: str, typed: object, *, bound: str = ""
    ) -> None:
        """Consume the admin's code for ``action`` (and ``bound``, as sent); raises BadCode
        or OtpRejected."""
        code = normalize_code(typed)
        if code is None:
            raise BadCode("Enter the 6-digit code from the email.")
        self.store.otp.verify(ws, admin.id, action, code, actor=admin.actor, bound=bound)
