"""One-time passwords that unlock an admin action: codes, digests, rules and outcomes.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field

import pyotp

from policies.errors import ConfigError, KeystileError
from policies.keys.crypto import Keyring

CODE_DIGITS = 6
HOUR = 3600
# ``area.verb`` with an optional ``:subject`` (a secret's name): it reaches audit entries.
ACTION_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+(:[A-Za-z0-9_.-]{1,128})?")
_SPACING = re.compile(r"[\s-]+")


@dataclass(frozen=True, slots=True)
class OtpPolicy:
    """How long a code lives, how often it may be guessed, how often one may be sent."""

    ttl_seconds: float = 600
    max_attempts: int = 5
    cooldown_seconds: float = 60
    max_sends_per_hour: int = 10

    def __post_init__(self) -> None:
        if not 30 <= self.ttl_seconds <= 24 * HOUR:
            raise ConfigError("OTP lifetime must be between 30 seconds and 24 hours")
        if not 1 <= self.max_attempts <= 10:
            raise ConfigError("OTP attempts must be between 1 and 10")
        if not 0 <= self.cooldown_seconds <= HOUR:
            raise ConfigError("OTP resend cooldown must be between 0 and 3600 seconds")
        if not 1 <= self.max_sends_per_hour <= 100:
            raise ConfigError("OTP sends per hour must be between 1 and 100")


DEFAULT_POLICY = OtpPolicy()


def new_code() -> str:
    """Six digits from a secret made for this challenge alone."""
    return str(pyotp.HOTP(pyotp.random_base32(), digits=CODE_DIGITS).at(0))


def normalize_code(text: object) -> str | None:
    """The code as typed (``"123 456"``, ``"123-456"``), or None if it cannot be one."""
    if not isinstance(text, str):
        return None
    code = _SPACING.sub("", text)
    return code if len(code) == CODE_DIGITS and code.isascii() and code.isdigit() else None


def check_action(action: str) -> str:
    if not isinstance(action, str) or ACTION_RE.fullmatch(action) is None:
        raise KeystileError(f"not a one-time-password action: {action!r}")
    return action


def check_admin_id(admin_id: str) -> str:
    if not isinstance(admin_id, str) or not admin_id or len(admin_id) > 256:
        raise KeystileError("an admin id must be 1-256 characters")
    return admin_id


def _digest(keyring: Keyring, purpose: str, *parts: str) -> str:
    # JSON keeps the parts unambiguous whatever characters an admin id holds.
    return keyring.digest(json.dumps(["keystile-otp", purpose, *parts]))


def code_digest(
    keyring: Keyring, ws: str, admin_id: str, action: str, code: str, bound: str = ""
) -> str:
    """``bound``: what the code unlocks beyond its action (a token form's digest, a
    secret's version); a code verifies only with the same."""
    return _digest(keyring, "code", ws, admin_id, action, code, *([bound] if bound else []))


def admin_binding(keyring: Keyring, admin_id: str) -> str:
    """A short opaque name for an admin in Redis key names (ids may hold any character)."""
    return _digest(keyring, "admin", admin_id)[:24]


def action_binding(keyring: Keyring, admin_id: str, action: str) -> str:
    return _digest(keyring, "action", admin_id, action)[:24]


@dataclass(frozen=True, slots=True)
class IssuedOtp:
    """A stored challenge: the code to mail, and what is needed to take it back."""

    workspace_id: str
    action: str
    code: str = field(repr=False)
    expires: float
    resend_after: float
    digest: str = field(repr=False)
    admin_key: str = field(repr=False)
    action_key: str = field(repr=False)
    send_id: str = field(repr=False)
    sent_at: str = field(repr=False)


class OtpError(KeystileError):
    """A one-time password could not be sent or was not accepted."""


class ThrottleReason(enum.StrEnum):
    COOLDOWN = "cooldown"
    HOURLY_CAP = "hourly_cap"


class OtpThrottled(OtpError):
    def __init__(self, reason: ThrottleReason, retry_after: int) -> None:
        self.reason = reason
        self.retry_after = max(1, int(retry_after))
        if reason is ThrottleReason.COOLDOWN:
            text = (
                f"A code was sent moments ago: wait {self.retry_after} s before asking for another."
            )
        else:
            minutes = -(-self.retry_after // 60)
            text = (
                "Too many codes were sent in the last hour: "
                f"try again in {minutes} min{'s' if minutes != 1 else ''}."
            )
        super().__init__(text)


class RejectReason(enum.StrEnum):
    WRONG = "wrong"
    VOID = "void"
    EXPIRED = "expired"
    MISSING = "missing"


_REJECT_TEXT = {
    RejectReason.VOID: "That code is not correct, and that was the last attempt: the code is "
    "now void. Request a new code.",
    RejectReason.EXPIRED: "That code has expired. Request a new code.",
    RejectReason.MISSING: "There is no active code for this action (it was used, voided or "
    "never sent). Request a new code.",
}


class OtpRejected(OtpError):
    def __init__(self, reason: RejectReason, attempts_left: int = 0) -> None:
        self.reason = reason
        self.attempts_left = attempts_left
        if reason is RejectReason.WRONG:
            plural = "s" if attempts_left != 1 else ""
            text = f"That code is not correct: {attempts_left} attempt{plural} left."
        else:
            text = _REJECT_TEXT[reason]
        super().__init__(text)
