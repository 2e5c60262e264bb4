import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import InvalidKey, KeyKind
from policies.keys.keyformat import ALPHABET, KEY_LENGTH, generate, mask, new_workspace_id, parse

WS = "ws_AbCdEfGh1234"


@pytest.mark.parametrize("kind", list(KeyKind))
def test_generated_keys_parse_back(kind: KeyKind) -> None:
    key = generate(kind, WS)
    assert key.startswith(f"{kind.value}_")
    assert len(key) == KEY_LENGTH
    assert parse(key) == parse(key)
    parsed = parse(key)
    assert parsed.kind is kind
    assert parsed.workspace_id == WS


def test_keys_are_unique_and_carry_enough_randomness() -> None:
    keys = {generate(KeyKind.PUBLISHABLE, WS) for _ in range(2000)}
    assert len(keys) == 2000
    # 32 base62 characters: log2(62**32) > 190 bits, far above the 128 required.
    assert 32 * 5.95 > 128


def test_workspace_ids_are_checked_before_use() -> None:
    assert new_workspace_id().startswith("ws_")
    with pytest.raises(ValueError, match="not a workspace id"):
        generate(KeyKind.SDK, "ws_../../etc")


@given(st.text(max_size=80))
def test_random_strings_are_rejected(text: str) -> None:
    with pytest.raises(InvalidKey):
        parse(text)


@given(
    st.text(alphabet=ALPHABET, min_size=KEY_LENGTH - 3, max_size=KEY_LENGTH - 3),
    st.sampled_from(["sk_", "pk_", "tk_"]),
)
def test_well_formed_random_keys_fail_the_checksum(body: str, prefix: str) -> None:
    # A 1 in 4.3 billion chance of a valid CRC; hypothesis will not find it.
    with pytest.raises(InvalidKey):
        parse(prefix + body)


@given(st.data())
def test_every_single_character_edit_is_rejected(data: st.DataObject) -> None:
    key = generate(data.draw(st.sampled_from(list(KeyKind))), WS)
    position = data.draw(st.integers(0, len(key) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET + "_-"))
    if replacement == key[position]:
        return
    with pytest.raises(InvalidKey):
        parse(key[:position] + replacement + key[position + 1 :])


@given(st.data())
def test_insertions_and_deletions_are_rejected(data: st.DataObject) -> None:
    key = generate(KeyKind.TOKEN, WS)
    position = data.draw(st.integers(0, len(key) - 1))
    with pytest.raises(InvalidKey):
        parse(key[:position] + key[position + 1 :])
    with pytest.raises(InvalidKey):
        parse(key[:position] + data.draw(st.sampled_from(string.ascii_letters)) + key[position:])


def test_every_failure_is_the_same_error() -> None:
    messages = set()
    key = generate(KeyKind.SDK, WS)
    typo = key[:-1] + ("1" if key[-1] == "0" else "0")  # always another last character
    for bad in ("", "pk_", "x" * 1000, typo, "sk_" + "é" * 50):
        with pytest.raises(InvalidKey) as caught:
            parse(bad)
        messages.add(str(caught.value))
    assert messages == {"invalid key"}


def test_mask_shows_kind_and_last_four_only() -> None:
    key = generate(KeyKind.SDK, WS)
    masked = mask(key)
    assert masked.startswith("sk_") and masked.endswith(key[-4:])
    assert key[3:-4] not in masked
