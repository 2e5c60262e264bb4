"""Backups carry rate limits (issue 13): restored as exported, each one checked first, in the
canonical encoding the store writes; a backup from before limits restores without any."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import redis

from policies import Catalog, KeystileError, PolicyStore
from policies.limits.rate_limits import Limits
from policies.storage import schema
from tests.policies.backup.test_backup import everything, resigned
from tests.support.catalog import DEMO_CATALOG
from tests.support.store import forget, lookup

Doc = dict[str, Any]


def limited_backup(store: PolicyStore) -> tuple[str, dict[str, str], Doc]:
    """A workspace whose every kind of owner has limits (and a revoked token, which has
    none left), its backup, and the plain token of the limited one."""
    ws = store.create_workspace("Acme", actor="t").workspace_id
    store.limits.replace(ws, "pk", ["100/min", "10000/day"], actor="t")
    store.limits.replace(ws, "pk", ["10/min"], scope="projects.create", actor="t")
    store.limits.replace(ws, "sk", ["50/s"], actor="t")
    ci = store.create_token(ws, "ci", actor="t", limits=Limits.of({"*": ["5/s"]}))
    old = store.create_token(ws, "old", actor="t", limits=Limits.of({"*": ["1/s"]}))
    store.revoke_token(ws, old.info.key_id, actor="t")
    document = json.loads(json.dumps(store.export_workspace(ws, actor="t")))
    return ws, {"ci": ci.token, "ci_kid": ci.info.key_id, "old_kid": old.info.key_id}, document


def test_limits_round_trip(store: PolicyStore, redis_client: redis.Redis) -> None:
    ws, tokens, document = limited_backup(store)
    before = store.limits.by_owner(ws)
    assert set(before) == {"pk", "sk", f"tk:{tokens['ci_kid']}"}  # the revoked token's went
    assert set(document["limits"]) == set(before)
    redis_client.flushall()
    store.save_catalog(Catalog.from_dict(DEMO_CATALOG))
    store.import_workspace(document, actor="t")
    assert store.limits.by_owner(ws) == before
    policy = lookup(store, tokens["ci"])
    assert policy is not None and policy.limits == Limits.of({"*": ["5/s"]})
    assert not list(redis_client.scan_iter("*staging*"))


def test_a_backup_from_before_limits_restores_without_any(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    ws, _, document = limited_backup(store)
    older = resigned(store.ctx.keyring, document, lambda d: d.pop("limits"))
    forget(redis_client, ws)
    redis_client.set(schema.limits(ws), "left over")  # not even a hash: replaced, not merged
    assert store.import_workspace(older, actor="t").workspace_id == ws
    assert store.limits.by_owner(ws) == {}
    assert not redis_client.exists(schema.limits(ws))


def test_valid_but_unusual_text_is_stored_canonically(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    ws, _, document = limited_backup(store)
    spelled = ' { "projects.create" : ["10 / 1 MINUTE"], "*": ["100000/DAY", "1000/10S"] } '

    def respell(d: Doc) -> None:
        d["limits"]["pk"] = spelled

    forget(redis_client, ws)
    store.import_workspace(resigned(store.ctx.keyring, document, respell), actor="t")
    stored = redis_client.hget(schema.limits(ws), "pk")
    assert stored == '{"*":["1000/10s","100000/day"],"projects.create":["10/min"]}'


def _owner(owner: str) -> Callable[[Doc], object]:
    return lambda d: d["limits"].update({owner: '{"*":["1/s"]}'})


def _value(text: str) -> Callable[[Doc], object]:
    return lambda d: d["limits"].update(pk=text)


def _revoked_token(d: Doc) -> None:
    [kid] = [k for k, raw in d["tokens"].items() if json.loads(raw)["revoked"] is not None]
    d["limits"][f"tk:{kid}"] = '{"*":["1/s"]}'


def _deep_token_record(d: Doc) -> None:
    kid = next(iter(d["tokens"]))
    d["tokens"][kid] = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_owner("ws"), "neither pk, sk nor tk:<key id>"),
        (_owner("tk:"), "neither pk, sk nor tk:<key id>"),
        (_owner("tk:0123456789ab"), "neither pk, sk nor tk:<key id>"),  # not in the backup
        (_owner("PK"), "neither pk, sk nor tk:<key id>"),
        (_revoked_token, "neither pk, sk nor tk:<key id>"),
        (_value("100/min"), "not JSON"),
        (_value("{"), "not JSON"),
        (_value("[" * 100_000 + "]" * 100_000), "not JSON"),  # deeper than the parser goes
        (_value('["100/min"]'), "must map scopes to lists"),
        (_value('{"*": "100/min"}'), "must map scopes to lists"),
        (_value('{"*": ["abc"]}'), "not COUNT/WINDOW"),
        (_value('{"*": ["0/min"]}'), "count must be"),
        (_value('{"*": ["1/32day"]}'), "1 second to 31 days"),
        (_value('{"*": ["1/min", "2/60s"]}'), "same window"),
        (_value('{"*": []}'), "at least one limit"),
        (_value("{}"), "are empty"),
        (_value('{"projects": ["1/s"]}'), "not module.functionality"),
        (_value('{"payroll.run": ["1/s"]}'), "unknown module 'payroll'"),
        (_value('{"projects.fly": ["1/s"]}'), "no functionality 'fly'"),
        (lambda d: d.update(limits=[]), "section 'limits' is missing or has the wrong shape"),
        (lambda d: d.update(limits=None), "section 'limits' is missing or has the wrong shape"),
        (lambda d: d["limits"].update(pk=5), "not a bounded string"),
        (_deep_token_record, "not a JSON object"),
    ],
)
def test_bad_limits_refuse_the_whole_backup_before_any_write(
    store: PolicyStore,
    redis_client: redis.Redis,
    change: Callable[[Doc], object],
    message: str,
) -> None:
    """Even in a backup that authenticates (a careless or hostile author signed it)."""
    ws, _, document = limited_backup(store)
    forget(redis_client, ws)
    before = everything(redis_client)
    with pytest.raises(KeystileError, match=rf"backup refused: .*{re.escape(message)}"):
        store.import_workspace(resigned(store.ctx.keyring, document, change), actor="t")
    assert everything(redis_client) == before
    assert store.import_workspace(document, actor="t").workspace_id == ws  # the honest one


def test_limits_on_actions_need_a_catalog(store: PolicyStore, redis_client: redis.Redis) -> None:
    ws, _, document = limited_backup(store)
    redis_client.flushall()  # no catalog here: pk's limit on projects.create cannot be checked
    with pytest.raises(KeystileError, match="limits on actions need a catalog"):
        store.import_workspace(document, actor="t")
    assert not redis_client.exists(schema.meta(ws))
    store.import_workspace(document, actor="t", apply_catalog=True)
    assert "projects.create" in store.limits.of(ws, "pk").as_dict()
