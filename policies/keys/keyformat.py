"""The one module that knows what a Keystile key looks like.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import enum
import re
import secrets
import zlib
from dataclasses import dataclass

from policies.errors import InvalidKey

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
WORKSPACE_CHARS = 12
SECRET_CHARS = 32
CHECKSUM_CHARS = 6
WORKSPACE_PREFIX = "ws_"


class KeyKind(enum.StrEnum):
    SDK = "sk"
    PUBLISHABLE = "pk"
    TOKEN = "tk"  # noqa: S105 - a prefix, not a password

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    KeyKind.SDK: "SDK access key",
    KeyKind.PUBLISHABLE: "publishable key",
    KeyKind.TOKEN: "workspace token",
}

_KEY_RE = re.compile(
    rf"(sk|pk|tk)_([0-9A-Za-z]{{{WORKSPACE_CHARS}}})"
    rf"[0-9A-Za-z]{{{SECRET_CHARS}}}([0-9A-Za-z]{{{CHECKSUM_CHARS}}})"
)
_WORKSPACE_RE = re.compile(rf"{WORKSPACE_PREFIX}[0-9A-Za-z]{{{WORKSPACE_CHARS}}}")
KEY_LENGTH = 3 + WORKSPACE_CHARS + SECRET_CHARS + CHECKSUM_CHARS


@dataclass(frozen=True, slots=True)
class ParsedKey:
    kind: KeyKind
    workspace_id: str


def _random_chars(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode("ascii"))
    digits = []
    for _ in range(CHECKSUM_CHARS):
        value, rem = divmod(value, 62)
        digits.append(ALPHABET[rem])
    return "".join(reversed(digits))


def new_workspace_id() -> str:
    return WORKSPACE_PREFIX + _random_chars(WORKSPACE_CHARS)


def is_workspace_id(value: str) -> bool:
    return _WORKSPACE_RE.fullmatch(value) is not None


def generate(kind: KeyKind, workspace_id: str) -> str:
    """A fresh key of ``kind`` for ``workspace_id`` (which must be a Keystile workspace id)."""
    if not is_workspace_id(workspace_id):
        raise ValueError(f"not a workspace id: {workspace_id!r}")
    body = f"{kind.value}_{workspace_id[len(WORKSPACE_PREFIX) :]}{_random_chars(SECRET_CHARS)}"
    return body + _checksum(body)


def parse(raw: str) -> ParsedKey:
    """Check format and checksum; raise :class:`InvalidKey` on any failure."""
    if len(raw) != KEY_LENGTH:
        raise InvalidKey()
    match = _KEY_RE.fullmatch(raw)
    if match is None or not secrets.compare_digest(
        _checksum(raw[:-CHECKSUM_CHARS]), match.group(3)
    ):
        raise InvalidKey()
    return ParsedKey(KeyKind(match.group(1)), WORKSPACE_PREFIX + match.group(2))


def mask(raw: str, visible: int = 4) -> str:
    """``sk_••••…abcd``: the kind and the last few characters, as dashboards show."""
    return f"{raw[:3]}{'•' * 12}{raw[-visible:]}"
