"""A workspace's token lifetime policy, and what the "unused for N days" view holds.

Pure values, checked at construction. The policy is the longest lifetime a new token may
be given (in days) and whether a token must expire at all; a maximum implies an expiry.
It governs creation only: an existing token beyond it is reported out of policy
(:meth:`LifetimePolicy.violation`), never changed. Stored as one field of the workspace's
meta hash by :mod:`policies.operations.lifetime`.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from policies.errors import KeystileError
from policies.storage.values import TokenInfo
from policies.times import MAX_LIFETIME_DAYS, is_time

DAY = 86400
MAX_DAYS = MAX_LIFETIME_DAYS  # both the longest maximum and the longest "unused" span
FIELD = "token_policy"  # the meta hash's field (absent: no policy)


class LifetimeRefused(KeystileError):
    """A new token's expiry is outside its workspace's lifetime policy."""


def check_days(value: object, what: str) -> int:
    """A whole number of days from 1 to :data:`MAX_DAYS` (bools and text are not)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise KeystileError(f"{what} must be a whole number of days from 1 to {MAX_DAYS}")
    return value


def _days(seconds: float) -> str:
    """A lifetime, exact to the second: ``91 days``, ``90 days 0h00m01s``."""
    days, rest = divmod(round(seconds), DAY)
    if not rest:
        return f"{days} days"
    return f"{days} days {rest // 3600}h{rest % 3600 // 60:02}m{rest % 60:02}s"


@dataclass(frozen=True, slots=True)
class LifetimePolicy:
    """``max_days``: the longest lifetime of a new token (None: no maximum);
    ``require_expiry``: a new token must expire (implied by a maximum). ``damaged``: the
    stored field could not be read (a hand edit): creation is refused until it is set again."""

    max_days: int | None = None
    require_expiry: bool = False
    damaged: bool = False

    def __post_init__(self) -> None:
        if self.max_days is not None:
            check_days(self.max_days, "the maximum token lifetime")
        if not isinstance(self.require_expiry, bool):
            raise KeystileError("'require expiry' is true or false")

    @property
    def empty(self) -> bool:
        return self.max_days is None and not self.require_expiry and not self.damaged

    @property
    def expiry_required(self) -> bool:
        return self.require_expiry or self.max_days is not None

    def as_dict(self) -> dict[str, Any]:
        return {"max_token_days": self.max_days, "require_expiry": self.require_expiry}

    def encode(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: object) -> LifetimePolicy:
        """From :meth:`as_dict`'s shape exactly (a backup's section, a stored field)."""
        if not isinstance(data, dict) or set(data) != {"max_token_days", "require_expiry"}:
            raise KeystileError(
                "a token lifetime policy is {max_token_days: days or null, require_expiry: bool}"
            )
        return cls(data["max_token_days"], data["require_expiry"])

    @classmethod
    def decode(cls, raw: str | None) -> LifetimePolicy:
        """The stored field; None is no policy, anything unreadable is ``damaged``."""
        if raw is None:
            return cls()
        try:
            return cls.from_dict(json.loads(raw))
        except (ValueError, RecursionError, KeystileError):
            return cls(damaged=True)

    def describe(self) -> str:
        if self.damaged:
            return "damaged (new tokens are refused until it is set again)"
        if self.max_days is not None:
            return f"tokens expire within {self.max_days} days of creation"
        if self.require_expiry:
            return "tokens must have an expiry"
        return "none (tokens may live forever)"

    def check_new(self, expires: float | None, now: float) -> None:
        """Refuse a new token expiring at ``expires`` (None: never) created at ``now``."""
        if self.damaged:
            raise LifetimeRefused(
                "this workspace's token lifetime policy is damaged: set it again "
                "(keystile policy set, or the admin's Lifetime policy) before creating tokens"
            )
        limit = self.max_days
        if expires is None and self.expiry_required:
            within = f" within {limit} days" if limit is not None else ""
            raise LifetimeRefused(
                f"this workspace's policy requires tokens to expire{within}: give the token "
                "an expiry"
            )
        if expires is not None and limit is not None and expires - now > limit * DAY:
            raise LifetimeRefused(
                f"this workspace's policy allows tokens of at most {limit} days: this one "
                f"would live {_days(expires - now)}; give an earlier expiry"
            )

    def violation(self, info: TokenInfo, now: float) -> str | None:
        """Why a live token is out of this policy (None: within it, or not live)."""
        if self.damaged or info.status(now) != "active":
            return None
        if info.expires is None:
            if self.max_days is not None:
                return f"never expires (maximum {self.max_days} days)"
            return "never expires (an expiry is required)" if self.require_expiry else None
        lifetime = info.expires - info.created if is_time(info.created) else None
        if self.max_days is not None and lifetime is not None and lifetime > self.max_days * DAY:
            return f"lives {_days(lifetime)} (maximum {self.max_days} days)"
        return None


@dataclass(frozen=True, slots=True)
class UnusedPage:
    """Live tokens with no use for ``days`` days (never used: since creation), the longest
    idle first: ``items`` from ``offset`` of about ``total``. ``partial``: the read stopped
    at its bound before the page was full (stale index entries were mended on the way: the
    next read goes further)."""

    days: int
    cutoff: float  # idle since at most this time
    items: list[TokenInfo]
    total: int
    offset: int = 0
    partial: bool = False


@dataclass(frozen=True, slots=True)
class UnusedRevocation:
    """What a confirmed revoke of unused tokens did: the tokens revoked, and each id it
    left alone with the reason (used since, not a token of the workspace...)."""

    days: int
    revoked: list[TokenInfo]
    skipped: list[tuple[str, str]]
