"""Finding Keystile keys in any bytes: candidates by the format's shape, confirmed by its
checksum (:func:`policies.keys.keyformat.parse`), so a random string is never reported.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from policies.errors import InvalidKey
from policies.keys.keyformat import KEY_LENGTH, KeyKind, parse

_KINDS = "|".join(kind.value for kind in KeyKind)
_BODY = KEY_LENGTH - len("sk_")
# A key stands alone between ASCII word boundaries (not glued to a letter, digit or "_").
# RE2 syntax too: gitleaks, TruffleHog and GitHub's custom patterns take it as it is.
PATTERN = rf"\b(?:{_KINDS})_[0-9A-Za-z]{{{_BODY}}}\b"
_CANDIDATE = re.compile(PATTERN, re.ASCII)
# What the scan looks for first: a literal first character lets re skip ahead (x20 faster).
_TAIL = re.compile(rf"_[0-9A-Za-z]{{{_BODY}}}\b", re.ASCII)
_PREFIX = len("sk")
SNIFF_BYTES = 8000  # git's rule: a NUL byte in the first 8,000 bytes makes a file binary
_CARRY = KEY_LENGTH + 1  # what a chunk hands the next: a key cut at its end, the char before


@dataclass(frozen=True, slots=True)
class FoundKey:
    line: int  # 1-based
    column: int  # 1-based, in characters of the line (UTF-8, undecodable bytes replaced)
    kind: KeyKind
    workspace_id: str

    @property
    def secret(self) -> bool:
        """SDK keys and tokens; a publishable key is public by design."""
        return self.kind is not KeyKind.PUBLISHABLE


def is_binary(head: bytes) -> bool:
    return b"\0" in head[:SNIFF_BYTES]


def find_keys(chunks: Iterable[bytes]) -> Iterator[FoundKey]:
    """Every valid key in the concatenated ``chunks``, in order; memory is bounded by the
    chunk size, and a key across two chunks (or a multi-byte character) is still found."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = _Text()
    for chunk in chunks:
        yield from text.feed(decoder.decode(chunk), final=False)
    yield from text.feed(decoder.decode(b"", final=True), final=True)


class _Text:
    """The text seen so far: the carried tail, and the line count up to it."""

    def __init__(self) -> None:
        self.carry = ""
        self.offset = 0  # the carry's position in the whole text
        self.counted = 0  # newlines are counted up to here
        self.line = 1
        self.line_start = 0

    def feed(self, new: str, *, final: bool) -> Iterator[FoundKey]:
        text = self.carry + new
        # The carry's first character is only context: a key starting there was judged before.
        first = 0 if self.offset == 0 else 1
        for tail in _TAIL.finditer(text, first + _PREFIX):
            match = _CANDIDATE.match(text, tail.start() - _PREFIX)
            if match is None:
                continue
            start, end = match.span()
            if end == len(text) and not final:
                break  # what follows may extend it: judged with the next chunk
            try:
                parsed = parse(match.group())
            except InvalidKey:
                continue
            self._count(text, start)
            column = self.offset + start - self.line_start + 1
            yield FoundKey(self.line, column, parsed.kind, parsed.workspace_id)
        keep = max(0, len(text) - _CARRY)
        self._count(text, keep)
        self.carry, self.offset = text[keep:], self.offset + keep

    def _count(self, text: str, upto: int) -> None:
        begin = self.counted - self.offset
        if upto <= begin:
            return
        newlines = text.count("\n", begin, upto)
        if newlines:
            self.line += newlines
            self.line_start = self.offset + text.rindex("\n", begin, upto) + 1
        self.counted = self.offset + upto
