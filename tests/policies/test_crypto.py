import pytest

from policies import ConfigError, Keyring, KeystileError


def test_round_trip_and_ciphertext_hides_plaintext(keyring: Keyring) -> None:
    token = keyring.encrypt("pk_secret_value")
    assert "pk_secret_value" not in token
    assert keyring.decrypt(token) == "pk_secret_value"


def test_master_key_rotation(digest_secret: str) -> None:
    old, new = Keyring.generate_master_key(), Keyring.generate_master_key()
    before = Keyring([old], digest_secret)
    stored = before.encrypt("value")
    after = Keyring([new, old], digest_secret)
    assert after.decrypt(stored) == "value"
    rewrapped = after.rewrap(stored)
    assert Keyring([new], digest_secret).decrypt(rewrapped) == "value"
    with pytest.raises(KeystileError, match="cannot be decrypted"):
        Keyring([new], digest_secret).decrypt(stored)


def test_digest_is_keyed(master_key: str) -> None:
    one = Keyring([master_key], "a" * 32)
    two = Keyring([master_key], "b" * 32)
    assert one.digest("k") == one.digest("k")
    assert one.digest("k") != two.digest("k")
    assert len(one.digest("k")) == 64
    assert one.key_id(one.digest("k")) == one.digest("k")[:12]


@pytest.mark.parametrize(
    ("keys", "secret", "message"),
    [
        ([], "s" * 32, "no master key"),
        ("notalist", "s" * 32, "no master key"),
        (["not-a-fernet-key"], "s" * 32, "master key #1 is not a Fernet key"),
        (None, "short", "at least 32 bytes"),
    ],
)
def test_bad_arguments_fail_at_construction(
    keys: object, secret: str, message: str, master_key: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Keyring([master_key] if keys is None else keys, secret)  # type: ignore[arg-type]
