import pytest
from cryptography.fernet import Fernet

from policies import ConfigError, Keyring, KeystileError


def test_round_trip_and_ciphertext_hides_plaintext(keyring: Keyring) -> None:
    token = keyring.encrypt("pk_secret_value", "ws_A/pk")
    assert "pk_secret_value" not in token and "ws_A" not in token
    assert keyring.decrypt(token, "ws_A/pk") == "pk_secret_value"


@pytest.mark.parametrize("elsewhere", ["ws_B/pk", "ws_A/sk", "ws_A/secret/S", "ws_A/p", ""])
def test_a_ciphertext_is_bound_to_its_context(keyring: Keyring, elsewhere: str) -> None:
    token = keyring.encrypt("value", "ws_A/pk")
    with pytest.raises(KeystileError, match="belongs to another"):
        keyring.decrypt(token, elsewhere)


def test_ciphertexts_from_before_contexts_stay_readable(master_key: str, keyring: Keyring) -> None:
    legacy = Fernet(master_key).encrypt(b"value").decode()
    assert keyring.decrypt(legacy, "ws_A/pk") == "value"
    assert not keyring.is_current(legacy)
    rewrapped = keyring.rewrap(legacy, "ws_A/pk")
    assert keyring.is_current(rewrapped)
    with pytest.raises(KeystileError, match="belongs to another"):
        keyring.decrypt(rewrapped, "ws_B/pk")


def test_master_key_rotation(digest_secret: str) -> None:
    old, new = Keyring.generate_master_key(), Keyring.generate_master_key()
    before = Keyring([old], digest_secret)
    stored = before.encrypt("value", "c")
    after = Keyring([new, old], digest_secret)
    assert after.decrypt(stored, "c") == "value"
    assert after.key_position(stored) == 1 and not after.is_current(stored)
    rewrapped = after.rewrap(stored, "c")
    assert after.key_position(rewrapped) == 0 and after.is_current(rewrapped)
    assert Keyring([new], digest_secret).decrypt(rewrapped, "c") == "value"
    with pytest.raises(KeystileError, match="cannot be decrypted"):
        Keyring([new], digest_secret).decrypt(stored, "c")
    assert Keyring([new], digest_secret).key_position(stored) is None


def test_check_values_name_secrets_without_revealing_them(master_key: str) -> None:
    one = Keyring([master_key], "a" * 32)
    two = Keyring([master_key], "b" * 32)
    assert one.digest_check != two.digest_check and len(one.digest_check) == 16
    assert one.master_key_checks == two.master_key_checks
    assert master_key not in one.master_key_checks[0]
    assert one.verify_mac(b"doc", one.mac(b"doc"))
    assert not one.verify_mac(b"doc!", one.mac(b"doc"))
    assert not two.verify_mac(b"doc", one.mac(b"doc"))


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
