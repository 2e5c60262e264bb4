"""Restores: one workspace, all or nothing, authenticated, with every section checked."""

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis

from policies import Catalog, Keyring, KeystileError, PolicyStore, Rule
from policies.backup.document import LEGACY_FORMAT, sign
from policies.storage import schema
from policies.storage.values import CreatedWorkspace
from tests.support.catalog import DEMO_CATALOG
from tests.support.store import forget, lookup

Doc = dict[str, Any]


def everything(redis_client: redis.Redis) -> dict[str, object]:
    """Every key with its type and size: what a refused restore must leave unchanged."""
    keys = sorted(redis_client.scan_iter("*"))
    return {k: (redis_client.type(k), redis_client.memory_usage(k)) for k in keys}


def backup_of(store: PolicyStore) -> tuple[CreatedWorkspace, str, Doc]:
    created = store.create_workspace("Acme", actor="t")
    ws = created.workspace_id
    store.add_rule(ws, Rule("billing", "read"), actor="t")
    token = store.create_token(ws, "ci", actor="t", rules=[Rule("members", "*")]).token
    revoked = store.create_token(ws, "old", actor="t").info.key_id
    store.revoke_token(ws, revoked, actor="t")
    store.secrets.put(ws, "S", "value", actor="t")
    return created, token, json.loads(json.dumps(store.export_workspace(ws, actor="t")))


def test_round_trip_into_an_empty_redis(store: PolicyStore, redis_client: redis.Redis) -> None:
    created, token, document = backup_of(store)
    ws = created.workspace_id
    assert created.publishable_key not in json.dumps(document)
    redis_client.flushall()
    store.save_catalog(Catalog.from_dict(DEMO_CATALOG))
    restored = store.import_workspace(document, actor="t")
    assert restored.workspace_id == ws and restored.verified
    assert redis_client.zcard(schema.token_index(ws)) == 2  # the restore wrote the index
    assert restored.catalog == "the backup's catalog is the live one"
    policy = lookup(store, created.publishable_key)
    assert policy is not None and Rule("billing", "read") in policy.rules
    assert lookup(store, created.sdk_key) is not None
    token_policy = lookup(store, token)
    assert token_policy is not None and Rule("members", "*") in token_policy.rules
    assert store.secrets.reveal(ws, "S", actor="t") == "value"
    assert store.reveal_sdk_key(ws, actor="t") == created.sdk_key
    assert [w.workspace_id for w in store.list_workspaces()] == [ws]
    assert store.workspace(ws).version == 1
    assert [e.action for e in store.audit_tail(ws, 10)][-1] == "workspace.restored"
    assert not list(redis_client.scan_iter("*staging*"))  # nothing staged is left
    assert redis_client.ttl(schema.credentials(ws)) == -1  # live keys do not expire
    with pytest.raises(KeystileError, match="already exists"):
        store.import_workspace(document, actor="t")


def test_export_is_audited(store: PolicyStore) -> None:
    created, _, _ = backup_of(store)
    [entry] = store.audit_tail(created.workspace_id, 1)
    assert entry.action == "workspace.exported" and entry.actor == "t"


def test_importing_a_workspace_does_not_touch_the_catalog(
    store: PolicyStore, redis_client: redis.Redis, catalog: Catalog
) -> None:
    """Issue 17.1: another workspace's backup, whose catalog maps GET /billing elsewhere."""
    created, _, document = backup_of(store)
    hostile = json.loads(json.dumps(DEMO_CATALOG))
    del hostile["modules"]["billing"]
    hostile["modules"]["projects"]["functionalities"]["list"]["routes"] += ["GET /billing"]
    store.save_catalog(Catalog.from_dict(hostile), force=True)  # disarms billing:read
    foreign = store.export_workspace(created.workspace_id, actor="t")
    store.save_catalog(catalog)
    forget(redis_client, created.workspace_id)
    restored = store.import_workspace(foreign, actor="t")
    assert "differs from the live one" in restored.catalog and "left as it is" in restored.catalog
    live = store.load_catalog()
    assert live is not None and live.fingerprint() == catalog.fingerprint()
    del document  # the honest backup is not needed here


def test_apply_catalog_goes_through_the_audited_path(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    created, _, document = backup_of(store)
    redis_client.flushall()
    y = {"functionalities": {"y": {"routes": ["GET /y"]}}}
    other = Catalog.from_dict({"modules": {"x": y}})
    store.save_catalog(other, actor="t")
    with pytest.raises(KeystileError, match=r"not in the catalog|unknown|no module"):
        store.import_workspace(document, actor="t")  # its rules name billing, not in x
    restored = store.import_workspace(document, actor="restorer", apply_catalog=True)
    assert restored.catalog_applied
    live = store.load_catalog()
    assert live is not None and sorted(live.module_names()) == ["billing", "members", "projects"]
    newest = store.deployment.audit_tail(1)[0]
    assert (newest.action, newest.actor) == ("catalog.loaded", "restorer")
    assert newest.detail["previous"] == other.fingerprint()
    assert lookup(store, created.publishable_key) is not None


def test_a_lone_surrogate_writes_nothing_and_a_retry_works(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    """Issue 17.2: checked before any write; the honest backup then restores."""
    created, _, document = backup_of(store)
    keyring = store.ctx.keyring
    forget(redis_client, created.workspace_id)
    before = everything(redis_client)
    hostile = sign(keyring, {**document, "secrets": {**document["secrets"], "T": "\ud800"}})
    with pytest.raises(KeystileError, match="not valid Unicode"):
        store.import_workspace(hostile, actor="t")
    assert everything(redis_client) == before
    assert store.import_workspace(document, actor="t").workspace_id == created.workspace_id


def resigned(keyring: Keyring, document: Doc, change: Callable[[Doc], object]) -> Doc:
    """``document`` changed, then signed again: only the section checks can refuse it."""
    copy = json.loads(json.dumps(document))
    change(copy)
    return sign(keyring, copy)


def _token(document: Doc, name: str) -> tuple[str, dict[str, Any]]:
    for kid, raw in document["tokens"].items():
        data = json.loads(raw)
        if data["name"] == name:
            return kid, data
    raise AssertionError(name)


def _revive(document: Doc) -> None:
    """Bring the revoked token back, as an edited backup would."""
    kid, data = _token(document, "old")
    data["revoked"] = None
    document["tokens"][kid] = json.dumps(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["meta"].update(created="yesterday"), "not a valid time"),
        (lambda d: d["meta"].update(created="nan"), "not a valid time"),
        (lambda d: d["meta"].update(origins='"x"'), "not a JSON list"),
        (lambda d: d["meta"].update(origins='["javascript:x"]'), "must look like"),
        (lambda d: d["meta"].update(name="a\r\nb"), "printable"),
        (lambda d: d.update(rules=[" projects:create "]), "canonical form"),
        (lambda d: d.update(rules=["projects.create"]), "canonical form"),
        (lambda d: d.update(rules=["nope:nope"]), "nope"),
        (_revive, "no credential record"),
        (lambda d: d["keys"].update({"0" * 64: d["keys"][d["meta"]["pk_digest"]]}), "match"),
        (lambda d: d["lastused"].update(x="1"), "key id"),
        (lambda d: d["secrets"].update({"1bad": d["secrets"]["S"]}), "not valid"),
        (lambda d: d["secrets"].update(T=d["secrets"]["S"]), "belongs to another"),
        (lambda d: d["meta"].update(pk_enc=d["meta"]["sk_enc"]), "belongs to another"),
        (lambda d: d.pop("tokens"), "wrong shape"),
        (lambda d: d.update(rules="x"), "must be a list"),
    ],
)
def test_every_section_is_checked_before_any_write(
    store: PolicyStore,
    redis_client: redis.Redis,
    change: Callable[[Doc], object],
    message: str,
) -> None:
    """Issue 17.3, even for a backup that authenticates (a careless or hostile author)."""
    created, _, document = backup_of(store)
    forget(redis_client, created.workspace_id)
    before = everything(redis_client)
    with pytest.raises(KeystileError, match=message):
        store.import_workspace(resigned(store.ctx.keyring, document, change), actor="t")
    assert everything(redis_client) == before


@pytest.mark.parametrize(
    "change",
    [
        _revive,
        lambda d: d.update(rules=[]),
        lambda d: d.update(workspace_id="ws_AAAAAAAAAAAA"),
        lambda d: d["meta"].update(name="Other"),
    ],
)
def test_a_modified_backup_is_refused(
    store: PolicyStore, redis_client: redis.Redis, change: Callable[[Doc], object]
) -> None:
    created, _, document = backup_of(store)
    forget(redis_client, created.workspace_id)
    change(document)
    for unverified in (False, True):  # no override accepts a modification
        with pytest.raises(KeystileError, match=r"modified after export|another workspace"):
            store.import_workspace(document, actor="t", unverified=unverified)
    assert not redis_client.exists(schema.meta(created.workspace_id))


def test_a_backup_made_under_other_secrets_needs_the_secret_it_was_made_under(
    store: PolicyStore, redis_client: redis.Redis, master_key: str
) -> None:
    elsewhere = PolicyStore(redis_client, Keyring([master_key], "x" * 40), clock=store.ctx.clock)
    created, _, document = backup_of(elsewhere)
    forget(redis_client, created.workspace_id)
    with pytest.raises(KeystileError, match=r"another digest secret.*--backup-digest-secret"):
        store.import_workspace(document, actor="t", unverified=True)
    assert not redis_client.exists(schema.meta(created.workspace_id))
    restored = store.import_workspace(document, actor="t", digest_secret="x" * 40)
    assert not restored.verified
    entry = store.audit_tail(created.workspace_id, 1)[0]
    assert entry.action == "workspace.restored" and entry.detail["verified"] is False


def test_a_backup_under_a_master_key_not_configured_here_is_refused(
    store: PolicyStore, redis_client: redis.Redis, digest_secret: str
) -> None:
    created, _, document = backup_of(store)
    forget(redis_client, created.workspace_id)
    other = PolicyStore(redis_client, Keyring([Keyring.generate_master_key()], digest_secret))
    with pytest.raises(KeystileError, match=r"master key.*not in KEYSTILE_MASTER_KEYS"):
        other.import_workspace(document, actor="t", unverified=True)


def test_an_unauthenticated_backup_renamed_to_another_workspace_is_refused(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    """Issue 17.4: W1's backup imported as W3 must not make W3 reveal W1's keys."""
    created, _, document = backup_of(store)
    w3 = "ws_" + "W" * 12
    legacy = json.loads(json.dumps(document).replace(created.workspace_id, w3))
    legacy["format"] = LEGACY_FORMAT
    with pytest.raises(KeystileError, match="unauthenticated"):
        store.import_workspace(legacy, actor="t")
    with pytest.raises(KeystileError, match="belongs to another"):
        store.import_workspace(legacy, actor="t", unverified=True)
    assert not redis_client.exists(schema.meta(w3))


def test_an_older_unauthenticated_backup_restores_only_when_accepted_explicitly(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    created, token, document = backup_of(store)
    old = {k: v for k, v in document.items() if k not in ("mac", "key_check", "exported_at")}
    old["format"] = LEGACY_FORMAT
    forget(redis_client, created.workspace_id)
    with pytest.raises(KeystileError, match="unauthenticated"):
        store.import_workspace(old, actor="t")
    restored = store.import_workspace(old, actor="t", unverified=True)
    assert not restored.verified
    assert lookup(store, token) is not None
    assert store.audit_tail(created.workspace_id, 1)[0].detail["verified"] is False
