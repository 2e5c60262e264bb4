"""What a restore trusts (issue 26): an edited backup is never restored, whatever the
flags; an old one is refused past a bound; credentials revoked since a backup was made
stay revoked when it is restored into the same deployment."""

import json
from typing import Any

import pytest
import redis

from policies import Keyring, KeystileError, PolicyStore
from policies.backup.document import LEGACY_FORMAT
from policies.storage import schema
from tests.support.clock import ManualClock
from tests.support.store import forget, lookup

DAY = 86400.0
Doc = dict[str, Any]


def copy(document: Doc) -> Doc:
    return json.loads(json.dumps(document))


def revive(document: Doc, name: str) -> None:
    """Bring a revoked token back, as an edited backup would (its credential record too)."""
    for kid, raw in document["tokens"].items():
        data = json.loads(raw)
        if data["name"] == name:
            data["revoked"] = None
            document["tokens"][kid] = json.dumps(data)
            record = {"kind": "tk", "kid": kid, "created": data["created"], "name": name}
            document["keys"][data["digest"]] = json.dumps(record)
            return
    raise AssertionError(name)


@pytest.fixture
def made(store: PolicyStore) -> tuple[str, str, Doc]:
    """A workspace with a revoked token, exported; the token's plaintext."""
    ws = store.create_workspace("Acme", actor="t").workspace_id
    created = store.create_token(ws, "old", actor="t")
    store.revoke_token(ws, created.info.key_id, actor="t")
    return ws, created.token, copy(store.export_workspace(ws, actor="t"))


@pytest.mark.parametrize("unverified", [False, True])
def test_an_edited_digest_check_never_turns_modified_into_unverifiable(
    store: PolicyStore,
    redis_client: redis.Redis,
    made: tuple[str, str, Doc],
    unverified: bool,
) -> None:
    """26.1: the digest secret's check value edited, the revoked token revived: refused
    with any flag, and with any secret the operator might give."""
    ws, token, document = made
    forget(redis_client, ws)
    revive(document, "old")
    document["key_check"]["digest_secret"] = "0" * 16
    for other in (None, "y" * 40):
        with pytest.raises(KeystileError, match="backup refused"):
            store.import_workspace(document, actor="t", unverified=unverified, digest_secret=other)
    assert not redis_client.exists(schema.meta(ws))
    assert lookup(store, token) is None


def test_a_backup_made_under_another_digest_secret_is_checked_with_that_secret(
    store: PolicyStore, redis_client: redis.Redis, master_key: str, clock: ManualClock
) -> None:
    """26.1: --unverified no longer accepts it unchecked; the operator gives the secret
    it was made under, and its MAC is checked with that."""
    elsewhere = PolicyStore(redis_client, Keyring([master_key], "x" * 40), clock=clock)
    ws = elsewhere.create_workspace("Elsewhere", actor="t").workspace_id
    document = copy(elsewhere.export_workspace(ws, actor="t"))
    forget(redis_client, ws)
    for unverified in (False, True):
        with pytest.raises(KeystileError, match="another digest secret") as refused:
            store.import_workspace(document, actor="t", unverified=unverified)
        assert "--unverified" not in str(refused.value)
        assert "--backup-digest-secret-file" in str(refused.value)
    edited = copy(document)
    edited["meta"]["name"] = "Edited"
    with pytest.raises(KeystileError, match="modified after export"):
        store.import_workspace(edited, actor="t", digest_secret="x" * 40)
    with pytest.raises(KeystileError, match="modified after export"):
        store.import_workspace(document, actor="t", digest_secret="w" * 40)  # not its secret
    restored = store.import_workspace(document, actor="t", digest_secret="x" * 40)
    assert not restored.verified
    assert store.audit_tail(ws, 1)[0].detail["verified"] is False


def test_unverified_accepts_a_format_1_file_only(
    store: PolicyStore, redis_client: redis.Redis, made: tuple[str, str, Doc]
) -> None:
    ws, _, document = made
    legacy = {k: v for k, v in document.items() if k not in ("mac", "key_check")}
    legacy["format"] = LEGACY_FORMAT
    forget(redis_client, ws)
    with pytest.raises(KeystileError, match=r"format 1.*--unverified"):
        store.import_workspace(legacy, actor="t")
    assert not store.import_workspace(legacy, actor="t", unverified=True).verified


def test_an_old_backup_is_refused_past_the_bound_and_its_age_is_reported(
    store: PolicyStore, redis_client: redis.Redis, made: tuple[str, str, Doc], clock: ManualClock
) -> None:
    """26.2: ``exported_at`` is under the MAC; a restore reports it and refuses a backup
    older than the bound (7 days unless raised)."""
    ws, _, document = made
    forget(redis_client, ws)
    clock.advance(8 * DAY)
    with pytest.raises(KeystileError, match=r"8\.0 days old.*--max-age"):
        store.import_workspace(document, actor="t")
    assert not redis_client.exists(schema.meta(ws))
    restored = store.import_workspace(document, actor="t", max_age=9 * DAY)
    assert restored.exported_at == document["exported_at"]
    assert restored.exported_at is not None and clock() - restored.exported_at == 8 * DAY


def test_a_backup_from_the_future_is_refused(
    store: PolicyStore, redis_client: redis.Redis, made: tuple[str, str, Doc], clock: ManualClock
) -> None:
    ws, _, document = made
    forget(redis_client, ws)
    clock.advance(-DAY)
    with pytest.raises(KeystileError, match="in the future"):
        store.import_workspace(document, actor="t")


def test_credentials_revoked_since_the_backup_stay_revoked(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    """26.2: a genuine backup made before a revocation, a rotation and a roll, restored
    into the same deployment: none of those credentials works again."""
    created = store.create_workspace("Acme", actor="t")
    ws = created.workspace_id
    kept = store.create_token(ws, "kept", actor="t")
    gone = store.create_token(ws, "gone", actor="t", limits=None)
    document = copy(store.export_workspace(ws, actor="t"))
    store.revoke_token(ws, gone.info.key_id, actor="t")
    store.rotate_publishable_key(ws, actor="t")
    store.roll_sdk_key(ws, actor="t", grace_seconds=3600)
    forget(redis_client, ws)  # the workspace lost; the deployment (its Redis) kept

    restored = store.import_workspace(document, actor="t")
    assert restored.kept_revoked == 3
    assert lookup(store, kept.token) is not None
    for key in (gone.token, created.publishable_key, created.sdk_key):
        assert lookup(store, key) is None
    info = {t.key_id: t for t in store.list_tokens(ws)}[gone.info.key_id]
    assert info.revoked is not None
    assert store.audit_tail(ws, 1)[0].detail["kept_revoked"] == 3
    # the revoked list holds digests only, never a key
    revoked = redis_client.hgetall(schema.revoked(ws))
    assert len(revoked) == 3 and all(len(d) == 64 for d in revoked)
    assert not any(k in json.dumps(revoked) for k in (gone.token, created.sdk_key))
