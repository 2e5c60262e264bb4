"""Backups carry allow-lists (scopes and networks of the SDK key and tokens), checked on
restore as the live operations check them."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from policies import Catalog, KeystileError, PolicyStore
from tests.policies.backup.test_backup import resigned
from tests.support.catalog import DEMO_CATALOG
from tests.support.store import lookup

Doc = dict[str, Any]


def restricted_backup(store: PolicyStore) -> tuple[str, dict[str, str], Doc]:
    store.save_catalog(Catalog.from_dict(DEMO_CATALOG))
    created = store.create_workspace("Acme", actor="t")
    ws = created.workspace_id
    store.restrict_sdk_key(ws, scopes=["projects:read"], networks=["10.0.0.0/8"], actor="t")
    ci = store.create_token(
        ws, "ci", actor="t", scopes=["billing.read"], networks=["2001:db8::/32"]
    )
    document = json.loads(json.dumps(store.export_workspace(ws, actor="t")))
    return ws, {"sdk": created.sdk_key, "ci": ci.token, "kid": ci.info.key_id}, document


def test_allow_lists_round_trip(store: PolicyStore, redis_client: redis.Redis) -> None:
    ws, keys, document = restricted_backup(store)
    redis_client.flushall()
    store.save_catalog(Catalog.from_dict(DEMO_CATALOG))
    store.import_workspace(document, actor="t")
    sdk = lookup(store, keys["sdk"])
    assert sdk is not None
    assert (sdk.scopes, sdk.networks) == (("projects:read",), ("10.0.0.0/8",))
    token = lookup(store, keys["ci"])
    assert token is not None
    assert (token.scopes, token.networks) == (("billing.read",), ("2001:db8::/32",))
    [info] = store.list_tokens(ws)
    assert (info.scopes, info.networks) == (("billing.read",), ("2001:db8::/32",))


def _sdk_record(document: Doc) -> tuple[str, dict[str, Any]]:
    digest = document["meta"]["sk_digest"]
    return digest, json.loads(document["keys"][digest])


def _edit_sdk(document: Doc, **fields: Any) -> None:
    digest, record = _sdk_record(document)
    document["keys"][digest] = json.dumps({**record, **fields})


def _edit_token(document: Doc, **fields: Any) -> None:
    for kid, raw in document["tokens"].items():
        document["tokens"][kid] = json.dumps({**json.loads(raw), **fields})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: _edit_sdk(d, scopes=["nope.list"]), "unknown module 'nope'"),
        (lambda d: _edit_sdk(d, scopes=["projects:all"]), "after ':' comes"),
        (lambda d: _edit_sdk(d, scopes="projects:*"), "not a list in canonical form"),
        (lambda d: _edit_sdk(d, networks=["10.1.0.0/8"]), "not a list in canonical form"),
        (lambda d: _edit_sdk(d, networks=["everywhere"]), "is not a CIDR range"),
        (lambda d: _edit_token(d, networks=["0.0.0.0/0"]), "credential and metadata disagree"),
    ],
)
def test_a_changed_allow_list_is_refused(
    store: PolicyStore, redis_client: redis.Redis, change: Any, message: str
) -> None:
    _, _, document = restricted_backup(store)
    redis_client.flushall()
    store.save_catalog(Catalog.from_dict(DEMO_CATALOG))
    with pytest.raises(KeystileError, match=message):
        store.import_workspace(resigned(store.ctx.keyring, document, change), actor="t")
    assert not list(redis_client.scan_iter("ks:{*"))
