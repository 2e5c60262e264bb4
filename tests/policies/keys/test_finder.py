from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.keys import keyformat
from policies.keys.finder import PATTERN, FoundKey, find_keys, is_binary
from policies.keys.keyformat import KeyKind

WS = "ws_AbCdEfGh1234"
FILLER = st.text(alphabet="ab_Z9 -.\n\ré€\x00\ufffd", max_size=80)


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def where(text: str, raw: str, kind: KeyKind) -> FoundKey:
    """The key's place, from the whole text (line and column 1-based, in characters)."""
    index = text.index(raw)
    line_start = text.rfind("\n", 0, index) + 1
    return FoundKey(text.count("\n", 0, index) + 1, index - line_start + 1, kind, WS)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(
            FILLER,
            st.sampled_from(list(KeyKind)),
            st.sampled_from(["real", "bad crc", "glued", "truncated"]),
        ),
        max_size=6,
    ),
    tail=FILLER,
    size=st.integers(1, 120),
)
def test_exactly_the_real_keys_whatever_the_chunks(
    pieces: list[tuple[str, KeyKind, str]], tail: str, size: int
) -> None:
    text, real = "", []
    for filler, kind, how in pieces:
        raw = keyformat.generate(kind, WS)
        if how == "real":
            real.append((raw, kind))
        written = {
            "real": raw,
            "bad crc": raw[:-1] + ("1" if raw[-1] == "0" else "0"),
            "glued": "q" + raw,
            "truncated": raw[:-1],
        }[how]
        text += f"{filler} {written} "
    text += tail
    data = text.encode()
    expected = [where(data.decode(), raw, kind) for raw, kind in real]
    assert list(find_keys(chunked(data, size))) == expected
    assert list(find_keys([data])) == expected


def test_a_key_glued_to_the_last_character_a_chunk_hands_over_is_not_a_key() -> None:
    raw = keyformat.generate(KeyKind.SDK, WS)
    data = ("y" * 100 + "x" + raw + " ").encode()
    # The key ends one character before the first chunk's end: its start is the first
    # character of the tail carried to the next chunk, whose left neighbour is "x".
    for size in range(50, 200):
        assert list(find_keys(chunked(data, size))) == []


def test_a_split_multibyte_character_counts_as_one_column() -> None:
    raw = keyformat.generate(KeyKind.TOKEN, WS)
    data = f"ab\n€é {raw}".encode()
    for size in range(1, len(data) + 1):
        assert list(find_keys(chunked(data, size))) == [FoundKey(2, 4, KeyKind.TOKEN, WS)]


@pytest.mark.parametrize(
    ("before", "after", "found"),
    [
        (" ", " ", True),
        ('"', '",', True),
        ("=", "\r\n", True),
        ("é", "é", True),  # not ASCII: a boundary (as RE2's \b)
        ("\x00", "\xff", True),
        ("-", ".", True),
        ("x", " ", False),
        ("_", " ", False),
        (" ", "_", False),
        (" ", "0", False),
    ],
)
def test_a_key_stands_between_ascii_word_boundaries(before: str, after: str, found: bool) -> None:
    raw = keyformat.generate(KeyKind.PUBLISHABLE, WS)
    keys = list(find_keys([(before + raw + after).encode("utf-8")]))
    assert [key.kind for key in keys] == ([KeyKind.PUBLISHABLE] if found else [])


def test_only_the_secret_kinds_are_secret() -> None:
    secret = {kind: FoundKey(1, 1, kind, WS).secret for kind in KeyKind}
    assert secret == {KeyKind.SDK: True, KeyKind.TOKEN: True, KeyKind.PUBLISHABLE: False}


def test_binary_is_a_nul_byte_in_the_first_8000_bytes() -> None:
    assert is_binary(b"\x89PNG\x00")
    assert not is_binary(b"plain \xff\xfe text")
    assert not is_binary(b"a" * 8000 + b"\x00")


def test_the_pattern_is_plain_re2_syntax() -> None:
    # No look-around or back-references: gitleaks and TruffleHog (Go's RE2) take it as is.
    assert "(?=" not in PATTERN and "(?<" not in PATTERN and "(?!" not in PATTERN
    assert PATTERN == r"\b(?:sk|pk|tk)_[0-9A-Za-z]{50}\b"
