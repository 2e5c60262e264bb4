"""A workspace's leak policy and what a report of one of its keys came to.

A reported key is treated as compromised: by default the SDK key is rolled (no grace, the
new key revealed only through the one-time-password reveal) and a token is revoked; a
workspace may choose ``notify`` for either (record and tell, change nothing). Stored as the
meta field ``leak_policy`` (so backups carry it).

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from policies.errors import KeystileError

SDK_CHOICES = ("roll", "notify")
TOKEN_CHOICES = ("revoke", "notify")
REPORTERS = ("github", "gitlab")
MAX_WHERE = 500  # characters of a report's url / location kept
MAX_SOURCE = 64


@dataclass(frozen=True, slots=True)
class LeakPolicy:
    sdk: str = "roll"
    tokens: str = "revoke"

    def __post_init__(self) -> None:
        if self.sdk not in SDK_CHOICES:
            raise KeystileError(f"the SDK key's leak policy must be {' or '.join(SDK_CHOICES)}")
        if self.tokens not in TOKEN_CHOICES:
            raise KeystileError(f"the tokens' leak policy must be {' or '.join(TOKEN_CHOICES)}")

    def encode(self) -> str:
        return json.dumps({"sdk": self.sdk, "tokens": self.tokens}, sort_keys=True)

    @classmethod
    def decode(cls, raw: str | None) -> LeakPolicy:
        """The stored policy; the default when absent. Raises KeystileError if damaged."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if (
            not isinstance(data, dict)
            or set(data) - {"sdk", "tokens"}
            or not all(isinstance(v, str) for v in data.values())
        ):
            raise KeystileError("the stored leak policy is not a policy")
        return cls(**data)

    def as_dict(self) -> dict[str, str]:
        return {"sdk": self.sdk, "tokens": self.tokens}


class Outcome(enum.StrEnum):
    """What a report came to (one per reported key)."""

    ROLLED = "rolled"  # the SDK key was rolled, no grace
    GRACE_ENDED = "grace_ended"  # the SDK key in its grace period after a roll: refused now
    REVOKED = "revoked"  # the token was revoked
    NOTIFIED = "notified"  # policy notify: recorded and audited, nothing changed
    ALREADY_REVOKED = "already_revoked"  # one of ours, no longer valid: nothing to do
    REPEAT = "repeat"  # reported before: nothing more (not audited again)
    PENDING = "pending"  # being handled by another report (or one that died): try again
    PUBLISHABLE = "publishable"  # public by design: not a leak
    UNKNOWN = "unknown"  # the key's format, but no key of this deployment

    @property
    def ours(self) -> bool:
        """Whether the reported text is (or was) a secret key of this deployment."""
        return self not in (Outcome.PUBLISHABLE, Outcome.UNKNOWN)

    @property
    def label(self) -> str:
        """GitHub's feedback label."""
        return "true_positive" if self.ours else "false_positive"


@dataclass(frozen=True, slots=True)
class Sighting:
    """Where a reporter found a key: never the key itself."""

    reporter: str  # github | gitlab
    where: str = ""  # GitHub's url, GitLab's location
    source: str = ""  # GitHub's source (content, commit, ...)

    def __post_init__(self) -> None:
        if self.reporter not in REPORTERS:
            raise ValueError(f"unknown reporter {self.reporter!r}")

    def scrubbed(self, key: str) -> Sighting:
        """Bounded, and without the key should a location quote it."""
        where = self.where.replace(key, key[:3] + "…")[:MAX_WHERE] if key else self.where
        return Sighting(self.reporter, where[:MAX_WHERE], self.source[:MAX_SOURCE])


@dataclass(frozen=True, slots=True)
class LeakRecord:
    """One entry of a workspace's leak-report list (the Tokens page's)."""

    at: float
    kind: str  # sk | tk
    key_id: str
    name: str  # the token's name, or "SDK key"
    reporter: str
    where: str
    source: str
    outcome: str

    def encode(self) -> str:
        return json.dumps(
            {
                "at": self.at,
                "kind": self.kind,
                "key_id": self.key_id,
                "name": self.name,
                "reporter": self.reporter,
                "where": self.where,
                "source": self.source,
                "outcome": self.outcome,
            },
            sort_keys=True,
        )

    @classmethod
    def decode(cls, raw: str) -> LeakRecord | None:
        try:
            data: Any = json.loads(raw)
            return cls(
                at=float(data["at"]),
                kind=str(data["kind"]),
                key_id=str(data["key_id"]),
                name=str(data.get("name", "")),
                reporter=str(data["reporter"]),
                where=str(data.get("where", "")),
                source=str(data.get("source", "")),
                outcome=str(data["outcome"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
