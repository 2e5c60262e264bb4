"""Backups carry a workspace's notification settings (policies.backup.notify_section): the
endpoint, its signing secret encrypted as stored, the mail addresses; checked on the way
back in as the live operations check them, all or nothing; runtime state stays behind."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from standardwebhooks.webhooks import Webhook

from policies import Catalog, Keyring, KeystileError, PolicyStore
from policies.backup.document import sign
from policies.keys.crypto import BOUND_PREFIX
from policies.notify import signing
from policies.notify.endpoints import EndpointPolicy
from policies.operations import backup, notify
from policies.storage import schema
from tests.policies.backup.test_backup import everything, resigned
from tests.support.store import forget

Doc = dict[str, Any]
URL = "https://1.1.1.1/hooks/keystile?token=t"  # a public address: no DNS, no delivery here
EMAILS = ["ops@acme.test", "sec@acme.test"]


def notified_backup(store: PolicyStore) -> tuple[str, str, Doc]:
    """A workspace with an endpoint and addresses, runtime state besides (a test outcome,
    a queued event); its secret and its backup."""
    ws = store.create_workspace("Acme", actor="t").workspace_id
    secret = store.run(notify.set_endpoint(store.ctx, ws, URL, EndpointPolicy(), actor="t"))
    store.run(notify.set_emails(store.ctx, ws, EMAILS, actor="t"))
    store.run(notify.record_test(store.ctx, ws, "delivered (HTTP 200)", True, actor="t"))
    store.create_token(ws, "ci", actor="t")  # notifiable: queued for webhook and mail
    assert store.run(notify.settings(store.ctx, ws)).pending == 2
    return ws, secret, json.loads(json.dumps(store.export_workspace(ws, actor="t")))


def test_round_trip_the_restored_secret_signs_as_the_original(
    store: PolicyStore, redis_client: redis.Redis, catalog: Catalog
) -> None:
    ws, secret, document = notified_backup(store)
    assert secret not in json.dumps(document)  # never the plain secret
    assert set(document["notify"]) == {"url", "secret", "emails"}  # no counters, no queue
    assert document["notify"]["secret"] == redis_client.hget(schema.notify(ws), "secret")
    redis_client.flushall()
    store.save_catalog(catalog)
    restored = store.import_workspace(document, actor="t")
    assert restored.notify == ("webhook", "mail")
    url, again = store.run(notify.endpoint(store.ctx, ws))
    assert url == URL
    now, body = int(time.time()), b'{"type":"webhook.test"}'
    headers = signing.headers(again, "msg_1", now, body)
    assert Webhook(secret).verify(body, headers) == {"type": "webhook.test"}
    found = store.run(notify.settings(store.ctx, ws))
    assert found.emails == tuple(EMAILS) and found.pending == 0 and found.test == {}
    assert found.channels["webhook"].status == ""
    store.create_token(ws, "after", actor="t")  # the restored workspace notifies again
    assert store.run(notify.settings(store.ctx, ws)).pending == 2


def test_no_settings_export_as_none_and_an_older_backup_restores_without(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    plain = store.create_workspace("Plain", actor="t").workspace_id
    assert store.export_workspace(plain, actor="t")["notify"] is None
    ws, _, document = notified_backup(store)
    older = resigned(store.ctx.keyring, document, lambda d: d.pop("notify"))
    forget(redis_client, ws)
    redis_client.hset(schema.notify(ws), "dead", "7")  # left over: replaced, not merged
    assert store.import_workspace(older, actor="t").notify == ()
    assert not redis_client.exists(schema.notify(ws))
    with pytest.raises(KeystileError, match="no webhook endpoint"):
        store.run(notify.endpoint(store.ctx, ws))


def test_a_private_endpoint_restores_only_where_the_deployment_allows_it(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    local = EndpointPolicy(("127.0.0.1",))
    url = "http://127.0.0.1:9/hooks"
    store.run(notify.set_endpoint(store.ctx, ws, url, local, actor="t"))
    document = json.loads(json.dumps(store.export_workspace(ws, actor="t")))
    forget(redis_client, ws)
    before = everything(redis_client)
    with pytest.raises(KeystileError, match=r"backup refused: its webhook endpoint: .*https"):
        store.import_workspace(document, actor="t")  # the default: public https only
    assert everything(redis_client) == before
    store.run(backup.import_workspace(store.ctx, document, actor="t", endpoints=local))
    assert store.run(notify.endpoint(store.ctx, ws))[0] == url


def test_a_host_name_restores_without_dns(store: PolicyStore, redis_client: redis.Redis) -> None:
    """A restore must not depend on the network: a name is checked when the worker
    delivers (``.invalid`` never resolves), an address literal at once."""
    ws, _, document = notified_backup(store)
    forget(redis_client, ws)
    edited = json.loads(json.dumps(document))
    edited["notify"]["url"] = "https://hooks.keystile.invalid/in"
    assert store.import_workspace(sign(store.ctx.keyring, edited), actor="t").notify == (
        "webhook",
        "mail",
    )
    assert store.run(notify.endpoint(store.ctx, ws))[0] == "https://hooks.keystile.invalid/in"


def test_a_secret_under_a_master_key_not_here_is_named(
    store: PolicyStore, redis_client: redis.Redis, master_key: str, digest_secret: str
) -> None:
    """The secret's master key is in the backup's key check, like the role keys'."""
    ws = store.create_workspace("Acme", actor="t").workspace_id
    newer = Keyring.generate_master_key()
    both = PolicyStore(redis_client, Keyring([newer, master_key], digest_secret))
    both.run(notify.set_endpoint(both.ctx, ws, URL, EndpointPolicy(), actor="t"))
    document = both.export_workspace(ws, actor="t")
    forget(redis_client, ws)
    with pytest.raises(KeystileError, match=r"master key\(s\) .* not in KEYSTILE_MASTER_KEYS"):
        store.import_workspace(document, actor="t")
    assert both.import_workspace(document, actor="t").notify == ("webhook",)


Change = Callable[[Doc, Keyring], object]


def _set(**fields: object) -> Change:
    return lambda d, _: d["notify"].update(fields)


def _secret(make: Callable[[Keyring, str], str]) -> Change:
    """A secret as this deployment's keyring would make it (the backup is re-signed)."""
    return lambda d, keyring: d["notify"].update(secret=make(keyring, d["workspace_id"]))


def _other(ws: str) -> str:
    """Another workspace's id: ``ws`` with its last character changed (never to itself)."""
    return ws[:-1] + ("X" if ws[-1] != "X" else "Y")


def _flipped(keyring: Keyring, ws: str) -> str:
    enc = keyring.encrypt(signing.new_secret(), notify.secret_context(ws))
    return enc[:-8] + ("A" if enc[-8] != "A" else "B") + enc[-7:]


def _other_master(keyring: Keyring, ws: str) -> str:
    other = Keyring([Keyring.generate_master_key()], Keyring.generate_digest_secret())
    return other.encrypt(signing.new_secret(), notify.secret_context(ws))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(url="not a url"), "its webhook endpoint: the endpoint must be an https"),
        (_set(url="ftp://1.1.1.1/x"), "must be an https:// URL"),
        (_set(url="http://1.1.1.1/x"), "must use https"),
        (_set(url="https://10.0.0.1/h"), "private, loopback or reserved"),
        (_set(url="https://127.0.0.1/h"), "private, loopback or reserved"),
        (_set(url="https://[::1]/h"), "private, loopback or reserved"),
        (_set(url="https://LocalHost/h"), "private, loopback or reserved"),
        (_set(url="https://169.254.169.254/latest"), "private, loopback or reserved"),
        (_set(url="https://u:p@1.1.1.1/h"), "user name or password"),
        (_set(url="https://1.1.1.1/" + "a" * 3000), "at most 2000 characters"),
        (_set(url=5), "at most 2000 characters"),
        (_set(url=None), "endpoint without a secret, or the reverse"),
        (_set(secret=None), "endpoint without a secret, or the reverse"),
        (_set(secret=5), "not an encrypted value"),
        (_set(secret=BOUND_PREFIX + "x" * 5000), "not an encrypted value"),
        (_set(secret="whsec_" + "A" * 43 + "="), "not an encrypted value"),  # plain
        (_secret(_flipped), "cannot be decrypted"),
        (_secret(_other_master), "cannot be decrypted"),
        (
            _secret(lambda k, ws: k.encrypt(signing.new_secret(), f"{_other(ws)}/notify/webhook")),
            "belongs to another workspace",
        ),
        (
            _secret(lambda k, ws: k.encrypt(signing.new_secret(), f"{ws}/secret/S")),
            "belongs to another workspace",
        ),
        (
            _secret(lambda k, ws: k.encrypt("hunter2", notify.secret_context(ws))),
            "does not decrypt to a signing secret",
        ),
        (_set(emails="ops@acme.test"), "must be a list"),
        (_set(emails=["Eve <eve@acme.test>"]), "not one address"),
        (_set(emails=["a@acme.test, b@acme.test"]), "not one address"),
        (_set(emails=["ops@acme.test\r\nBcc: x@evil.test"]), "not one address"),
        (_set(emails=[5]), "must be text"),
        (_set(emails=[f"u{n}@acme.test" for n in range(21)]), "more than 20"),
        (_set(emails=[""] * 100_000), "more than 20 mail addresses"),
        (_set(extra=1), "not a workspace's notification settings"),
        (lambda d, _: d.update(notify=[]), "not a workspace's notification settings"),
        (lambda d, _: d.update(notify="https://1.1.1.1/"), "not a workspace's notification"),
    ],
)
def test_bad_notification_settings_refuse_the_whole_backup_before_any_write(
    store: PolicyStore,
    redis_client: redis.Redis,
    change: Change,
    message: str,
) -> None:
    """Even in a backup that authenticates (a careless or hostile author signed it)."""
    ws, _, document = notified_backup(store)
    forget(redis_client, ws)
    before = everything(redis_client)
    edited = json.loads(json.dumps(document))
    change(edited, store.ctx.keyring)
    edited = sign(store.ctx.keyring, edited)
    with pytest.raises(KeystileError, match=rf"backup refused: .*{re.escape(message)}"):
        store.import_workspace(edited, actor="t")
    assert everything(redis_client) == before
    assert store.import_workspace(document, actor="t").notify == ("webhook", "mail")


def test_mail_only_settings_are_stored_as_the_live_operation_stores_them(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    store.run(notify.set_emails(store.ctx, ws, ["ops@acme.test"], actor="t"))
    document = json.loads(json.dumps(store.export_workspace(ws, actor="t")))
    assert document["notify"] == {"url": None, "secret": None, "emails": ["ops@acme.test"]}
    spelled = [" ops@acme.test ", "", "ops@acme.test", "sec@acme.test"]
    forget(redis_client, ws)
    edited = resigned(store.ctx.keyring, document, lambda d: d["notify"].update(emails=spelled))
    assert store.import_workspace(edited, actor="t").notify == ("mail",)
    assert redis_client.hgetall(schema.notify(ws)) == {
        "emails": json.dumps(["ops@acme.test", "sec@acme.test"])
    }


@pytest.mark.parametrize("fields", [{"emails": "not JSON"}, {"url": URL}, {"secret": "ks2:x"}])
def test_damaged_settings_are_refused_at_export_not_found_at_restore(
    store: PolicyStore, redis_client: redis.Redis, fields: dict[str, str]
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    redis_client.hset(schema.notify(ws), mapping=fields)
    with pytest.raises(KeystileError, match="notification settings are damaged: set them again"):
        store.export_workspace(ws, actor="t")
