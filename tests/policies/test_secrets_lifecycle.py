"""Master-key rotation to its end (rewrap, then the old key removed), the digest secret's
check value, and ciphertexts that cannot reach across workspaces."""

import pytest
import redis
from cryptography.fernet import Fernet

from policies import ConfigError, Keyring, KeystileError, PolicyStore
from policies.storage import schema
from tests.support.clock import ManualClock


def test_rewrap_then_the_old_master_key_can_go(
    redis_client: redis.Redis, digest_secret: str, clock: ManualClock
) -> None:
    old, new = Keyring.generate_master_key(), Keyring.generate_master_key()
    before = PolicyStore(redis_client, Keyring([old], digest_secret), clock=clock)
    made = [before.create_workspace(f"W{n}", actor="t") for n in range(3)]
    for n, w in enumerate(made):
        before.secrets.put(w.workspace_id, "S", f"value {n}", actor="t")
    # one value from before contexts (a bare Fernet token), as older versions wrote
    legacy_ws = made[0].workspace_id
    redis_client.hset(schema.secrets(legacy_ws), "L", Fernet(old).encrypt(b"legacy").decode())

    rotated = PolicyStore(redis_client, Keyring([new, old], digest_secret), clock=clock)
    status = rotated.deployment.secrets_status()
    assert [count for _, count in status.by_master_key] == [0, 10]
    assert (status.unbound, status.unreadable) == (1, 0)
    seen: list[tuple[str, int, int]] = []
    report = rotated.deployment.rewrap_secrets(actor="op", progress=lambda *a: seen.append(a))
    assert (report.rewrapped, report.current, report.failed) == (10, 0, 0)
    assert sorted(ws for ws, _, _ in seen) == sorted(w.workspace_id for w in made)
    again = rotated.deployment.rewrap_secrets(actor="op")  # resumable: nothing left to do
    assert (again.rewrapped, again.current) == (0, 10)
    status = rotated.deployment.secrets_status()
    assert [count for _, count in status.by_master_key] == [10, 0] and status.unbound == 0
    assert rotated.audit_tail(legacy_ws, 1)[0].action == "secrets.rewrapped"
    assert rotated.deployment.audit_tail(1)[0].detail["rewrapped"] == 0

    after = PolicyStore(redis_client, Keyring([new], digest_secret), clock=clock)
    for n, w in enumerate(made):
        ws = w.workspace_id
        assert after.reveal_sdk_key(ws, actor="t") == w.sdk_key
        assert after.publishable_key(ws) == w.publishable_key
        assert after.secrets.reveal(ws, "S", actor="t") == f"value {n}"
    assert after.secrets.reveal(legacy_ws, "L", actor="t") == "legacy"


def test_a_ciphertext_copied_into_another_workspace_does_not_decrypt(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    """Issue 17.4: Redis write access plus admin rights on W2 do not yield W1's plaintext."""
    w1 = store.create_workspace("One", actor="t")
    w2 = store.create_workspace("Two", actor="t")
    store.secrets.put(w1.workspace_id, "S", "w1 secret", actor="t")
    stolen = redis_client.hget(schema.secrets(w1.workspace_id), "S")
    assert stolen is not None
    redis_client.hset(schema.secrets(w2.workspace_id), "S", stolen)
    redis_client.hset(schema.secrets(w1.workspace_id), "T", stolen)  # other name, same ws
    sk_enc = redis_client.hget(schema.meta(w1.workspace_id), "sk_enc")
    assert sk_enc is not None
    redis_client.hset(schema.meta(w2.workspace_id), "sk_enc", sk_enc)
    redis_client.hset(schema.meta(w1.workspace_id), "pk_enc", sk_enc)  # other role
    for reveal in (
        lambda: store.secrets.reveal(w2.workspace_id, "S", actor="t"),
        lambda: store.secrets.reveal(w1.workspace_id, "T", actor="t"),
        lambda: store.reveal_sdk_key(w2.workspace_id, actor="t"),
        lambda: store.publishable_key(w1.workspace_id),
    ):
        with pytest.raises(KeystileError, match="belongs to another"):
            reveal()


def test_an_unbound_ciphertext_of_another_workspace_is_refused_by_its_key_id(
    store: PolicyStore, redis_client: redis.Redis, master_key: str
) -> None:
    """Old ciphertexts carry no context: the revealed key's embedded workspace id decides."""
    w1 = store.create_workspace("One", actor="t")
    w2 = store.create_workspace("Two", actor="t")
    legacy = Fernet(master_key).encrypt(w1.sdk_key.encode()).decode()
    redis_client.hset(schema.meta(w2.workspace_id), "sk_enc", legacy)
    with pytest.raises(KeystileError, match="does not belong to workspace"):
        store.reveal_sdk_key(w2.workspace_id, actor="t")
    report = store.deployment.rewrap_secrets(actor="op")  # and rewrap does not launder it into W2's
    assert report.failed == 1
    assert redis_client.hget(schema.meta(w2.workspace_id), "sk_enc") == legacy


def test_a_changed_digest_secret_is_refused_with_a_clear_message(
    store: PolicyStore, redis_client: redis.Redis, master_key: str
) -> None:
    store.create_workspace("Acme", actor="t")
    store.deployment.check_digest_secret()  # stamps the check value
    assert redis_client.get(schema.DIGEST_CHECK) == store.ctx.keyring.digest_check
    store.deployment.check_digest_secret()
    other = PolicyStore(redis_client, Keyring([master_key], "z" * 40))
    with pytest.raises(ConfigError, match="not the secret this Redis was set up with"):
        other.deployment.check_digest_secret()


def test_a_deployment_from_before_check_values_is_checked_against_its_keys(
    store: PolicyStore, redis_client: redis.Redis, master_key: str
) -> None:
    store.create_workspace("Acme", actor="t")
    other = PolicyStore(redis_client, Keyring([master_key], "z" * 40))
    with pytest.raises(ConfigError, match="derived from stored keys"):
        other.deployment.check_digest_secret()
    assert redis_client.get(schema.DIGEST_CHECK) is None  # nothing stamped by the wrong one


def test_rewrap_counts_again_and_reports_values_still_under_a_retired_key(
    redis_client: redis.Redis, digest_secret: str, clock: ManualClock
) -> None:
    """Issue 26.3: an admin process still on the old key list writes behind the rewrap;
    the report says how many values it left under the retired key."""
    old, new = Keyring.generate_master_key(), Keyring.generate_master_key()
    stale = PolicyStore(redis_client, Keyring([old], digest_secret), clock=clock)
    first, second = sorted(
        stale.create_workspace(f"W{n}", actor="t").workspace_id for n in range(2)
    )
    rotated = PolicyStore(redis_client, Keyring([new, old], digest_secret), clock=clock)

    def write_behind(ws: str, rewrapped: int, failed: int) -> None:
        if ws == second:  # the rewrap has passed the first workspace: the old list writes
            stale.secrets.put(first, "LATE", "written with the old key list", actor="t")

    report = rotated.deployment.rewrap_secrets(actor="op", progress=write_behind)
    assert (report.rewrapped, report.failed) == (4, 0)
    assert report.left == 1
    assert rotated.deployment.audit_tail(1)[0].detail["left"] == 1
    assert rotated.deployment.secrets_status().by_master_key[1][1] == 1


def test_a_digest_secret_is_stamped_only_once_proved_against_stored_keys(
    store: PolicyStore, redis_client: redis.Redis, master_key: str, digest_secret: str
) -> None:
    """Issue 26.4: with no check value stored and master keys that decrypt nothing, a wrong
    digest secret was stamped, and from then on the right one was refused."""
    store.create_workspace("Acme", actor="t")
    redis_client.delete(schema.DIGEST_CHECK)
    foreign = Keyring.generate_master_key()
    guess = PolicyStore(redis_client, Keyring([foreign], "z" * 40))
    guess.deployment.check_digest_secret()  # nothing it can decrypt proves or disproves it
    assert redis_client.get(schema.DIGEST_CHECK) is None
    store.deployment.check_digest_secret()  # the right secret still starts, and is stamped now
    assert redis_client.get(schema.DIGEST_CHECK) == store.ctx.keyring.digest_check


def test_the_digest_check_proves_against_any_workspace_it_can_read(
    redis_client: redis.Redis, master_key: str, digest_secret: str
) -> None:
    """A workspace under a master key not configured here does not decide the check: the
    others do (one picked at random once stamped a wrong secret, or none)."""
    foreign = Keyring.generate_master_key()
    readable = PolicyStore(redis_client, Keyring([master_key], digest_secret))
    unreadable = PolicyStore(redis_client, Keyring([foreign], digest_secret))
    for n in range(5):
        unreadable.create_workspace(f"Foreign {n}", actor="t")
    readable.create_workspace("Ours", actor="t")
    redis_client.delete(schema.DIGEST_CHECK)
    wrong = PolicyStore(redis_client, Keyring([master_key], "z" * 40))
    for _ in range(3):
        with pytest.raises(ConfigError, match="derived from stored keys"):
            wrong.deployment.check_digest_secret()
    assert redis_client.get(schema.DIGEST_CHECK) is None
    readable.deployment.check_digest_secret()
    assert redis_client.get(schema.DIGEST_CHECK) == readable.ctx.keyring.digest_check
