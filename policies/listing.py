"""What a long list is asked for, and one page of the answer: tokens and the audit log.

Pure values, checked at construction (a bad page size or status never reaches Redis); the
operations that fill them are in :mod:`policies.operations.listing`.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from policies.errors import KeystileError
from policies.storage.values import AuditEntry, TokenInfo

_WORD = re.compile(r"\w+")  # a name's words, as the token filters index them
TOKEN_STATUSES = ("active", "expired", "revoked")
MAX_PAGE = 1000
MAX_TEXT = 200
ENTRY_ID_RE = re.compile(r"\d{1,20}-\d{1,20}")
MAX_ENTRY_PART = 2**64 - 1  # Redis refuses a stream id with a larger part
T = TypeVar("T")


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise KeystileError(f"a page holds 1 to {MAX_PAGE} items")
    return limit


def _text(value: str, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT or not value.isprintable():
        raise KeystileError(f"the {what} filter must be at most {MAX_TEXT} printable characters")
    return value.strip()


def is_entry_id(value: object) -> bool:
    """A stream entry id Redis accepts: two numbers of at most 64 bits each."""
    if not isinstance(value, str) or ENTRY_ID_RE.fullmatch(value) is None:
        return False
    return all(int(part) <= MAX_ENTRY_PART for part in value.split("-"))


def _pattern(value: str, candidate: str) -> bool:
    """Exact, or by its start with a final ``*``; an empty pattern matches everything."""
    if not value:
        return True
    if value.endswith("*"):
        return candidate.startswith(value[:-1])
    return candidate == value


@dataclass(frozen=True, slots=True)
class TokenQuery:
    text: str = ""
    status: str | None = None
    offset: int = 0
    limit: int = 50

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", _text(self.text, "name"))
        if self.status is not None and self.status not in TOKEN_STATUSES:
            raise KeystileError(f"a token's status is one of {', '.join(TOKEN_STATUSES)}")
        if isinstance(self.offset, bool) or not isinstance(self.offset, int) or self.offset < 0:
            raise KeystileError("the offset must be a whole number, 0 or more")
        _limit(self.limit)

    @property
    def filtered(self) -> bool:
        return bool(self.text) or self.status is not None

    def matches(self, info: TokenInfo, now: float) -> bool:
        """The filters' answer: of the status, and with a key id or one of the name's words
        (the name from that word on, casefolded) that starts with the text."""
        if self.status is not None and info.status(now) != self.status:
            return False
        text, folded = self.text, info.name.casefold()
        return (
            not text
            or info.key_id.startswith(text)
            or any(folded[m.start() :].startswith(text.casefold()) for m in _WORD.finditer(folded))
        )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """``items`` from ``offset`` of the ``total`` that matched; ``unsearched``: how many
    older items a bounded search left out (0: the answer is complete)."""

    items: list[T]
    total: int
    offset: int
    limit: int
    unsearched: int = 0

    @property
    def number(self) -> int:
        return self.offset // self.limit + 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit))

    @property
    def first_shown(self) -> int:
        return self.offset + 1 if self.items else 0

    @property
    def last_shown(self) -> int:
        return self.offset + len(self.items)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    action: str = ""
    actor: str = ""
    before: str | None = None
    limit: int = 25

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", _text(self.action, "action"))
        object.__setattr__(self, "actor", _text(self.actor, "actor"))
        if self.before is not None and not is_entry_id(self.before):
            raise KeystileError("'before' must be an audit entry id such as 1700000000000-0")
        _limit(self.limit)

    def matches(self, entry: AuditEntry) -> bool:
        return _pattern(self.action, entry.action) and _pattern(self.actor, entry.actor)


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Up to ``limit`` entries, newest first; ``older``: the ``before`` of the next page
    (None: nothing older matches)."""

    entries: list[AuditEntry] = field(default_factory=list)
    older: str | None = None
