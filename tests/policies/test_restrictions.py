"""Allow-lists: scopes and networks parsed to their stored form, a catalog's write marks,
and the store's operations on the suite's Redis (restrict, lift, fail closed)."""

from __future__ import annotations

import json

import pytest
import redis

from policies import Catalog, KeystileError, PolicyStore
from policies.errors import CatalogError, NotFound
from policies.restrictions import (
    MAX_NETWORKS,
    RestrictionError,
    check_networks,
    check_scopes,
    grants,
)
from policies.storage import schema
from tests.support.catalog import DEMO_CATALOG
from tests.support.store import lookup


def test_scopes_and_networks_in_stored_form() -> None:
    assert check_scopes([" projects:write", "projects:*", "billing:read", "a.b"]) == (
        "a.b",
        "billing:read",
        "projects:*",
    )
    assert check_networks(["2001:db8::1/32", "10.9.8.7/8", "192.0.2.1", "::ffff:10.1.1.1"]) == (
        "10.0.0.0/8",
        "10.1.1.1/32",
        "192.0.2.1/32",
        "2001:db8::/32",
    )
    for bad in ([], "10.0.0.0/8", ["10.0.0.0/33"], [b"10.0.0.0/8"]):
        with pytest.raises(RestrictionError):
            check_networks(bad)  # type: ignore[arg-type]
    with pytest.raises(RestrictionError, match=f"at most {MAX_NETWORKS}"):
        check_networks(f"10.0.{i}.0/24" for i in range(MAX_NETWORKS + 1))
    for bad_scope in ("projects", "projects:list", ".list", "projects.", "a.b.c", "p:*:x"):
        with pytest.raises(RestrictionError):
            check_scopes([bad_scope])


def test_the_catalog_marks_what_writes() -> None:
    catalog = Catalog.from_dict(
        {
            "modules": {
                "p": {
                    "functionalities": {
                        "list": {"routes": ["GET /p", "HEAD /p"]},
                        "create": {"routes": ["POST /p"]},
                        "search": {"routes": ["POST /p/search"], "writes": False},
                        "peek": {"routes": ["GET /p/peek"], "writes": True},
                        "events": {"routes": ["WEBSOCKET /p/events"]},
                    }
                }
            }
        }
    )
    assert catalog.write_actions() == {"p.create", "p.peek", "p.events"}
    assert Catalog.from_json(catalog.to_json()).write_actions() == catalog.write_actions()
    table = Catalog.from_dict(
        {
            "modules": {"p": {"functionalities": {"a": {}, "b": {}}}},
            "routes": [
                {"path": "/a", "methods": ["POST"], "action": "p.a", "writes": False},
                {"path": "/b", "action": "p.b"},  # any method: writes
            ],
        }
    )
    assert table.write_actions() == {"p.b"}
    with pytest.raises(CatalogError, match="'writes' is true or false"):
        Catalog.from_dict({"modules": {}, "routes": [{"path": "/a", "writes": "no"}]})
    assert grants("p", "list", False) == ("p.list", "p:*", "p:read")
    assert grants("p", "create", True) == ("p.create", "p:*")


@pytest.fixture
def loaded(store: PolicyStore) -> PolicyStore:
    store.save_catalog(Catalog.from_dict(DEMO_CATALOG))
    return store


def test_restricting_a_token_is_one_audited_version(loaded: PolicyStore) -> None:
    ws = loaded.create_workspace("Acme", actor="t").workspace_id
    created = loaded.create_token(ws, "ci", actor="t")
    kid = created.info.key_id
    version = loaded.workspace(ws).version
    info = loaded.restrict_token(ws, kid, scopes=["projects:read"], actor="alice")
    assert (info.scopes, info.networks) == (("projects:read",), None)
    assert loaded.workspace(ws).version == version + 1
    entry = loaded.audit_tail(ws, 1)[0]
    assert (entry.actor, entry.action) == ("alice", "token.restricted")
    assert entry.detail["scopes"] == ["projects:read"] and entry.detail["networks"] == "any"
    info = loaded.restrict_token(ws, kid, networks=["10.0.0.0/8"], actor="t")
    assert (info.scopes, info.networks) == (("projects:read",), ("10.0.0.0/8",))
    policy = lookup(loaded, created.token)
    assert policy is not None and policy.scopes == ("projects:read",)
    lifted = loaded.restrict_token(ws, kid, scopes=None, networks=None, actor="t")
    assert (lifted.scopes, lifted.networks) == (None, None)
    policy = lookup(loaded, created.token)
    assert policy is not None and (policy.scopes, policy.networks) == (None, None)
    loaded.revoke_token(ws, kid, actor="t")
    with pytest.raises(KeystileError, match="revoked"):
        loaded.restrict_token(ws, kid, scopes=["projects:*"], actor="t")
    with pytest.raises(NotFound):
        loaded.restrict_token(ws, "0" * len(kid), scopes=["projects:*"], actor="t")


def test_a_scope_outside_the_catalog_is_refused_and_nothing_written(loaded: PolicyStore) -> None:
    ws = loaded.create_workspace("Acme", actor="t").workspace_id
    version = loaded.workspace(ws).version
    with pytest.raises(KeystileError, match="no functionality 'export'"):
        loaded.create_token(ws, "ci", actor="t", scopes=["projects.export"])
    with pytest.raises(KeystileError, match="unknown module"):
        loaded.restrict_sdk_key(ws, scopes=["nope:*"], actor="t")
    assert loaded.workspace(ws).version == version and loaded.list_tokens(ws) == []


def test_a_damaged_allow_list_allows_nothing(
    loaded: PolicyStore, redis_client: redis.Redis
) -> None:
    created = loaded.create_workspace("Acme", actor="t")
    ws = created.workspace_id
    loaded.restrict_sdk_key(ws, networks=["10.0.0.0/8"], actor="t")
    digest = redis_client.hget(schema.meta(ws), "sk_digest")
    record = json.loads(redis_client.hget(schema.credentials(ws), digest))
    record["scopes"], record["networks"] = "all", ["everywhere"]
    redis_client.hset(schema.credentials(ws), digest, json.dumps(record))
    policy = lookup(loaded, created.sdk_key)
    assert policy is not None and (policy.scopes, policy.networks) == ((), ())


def test_the_catalog_refuses_to_drop_a_scoped_action_unless_forced(loaded: PolicyStore) -> None:
    ws = loaded.create_workspace("Acme", actor="t").workspace_id
    kid = loaded.create_token(ws, "ci", actor="t", scopes=["billing:read"]).info.key_id
    smaller = Catalog.from_dict(
        {"modules": {k: v for k, v in DEMO_CATALOG["modules"].items() if k != "billing"}}
    )
    with pytest.raises(CatalogError, match=f"scopes: {ws} token {kid}: billing:read"):
        loaded.save_catalog(smaller)
    loaded.save_catalog(smaller, force=True)
    entry = loaded.deployment.audit_tail(1)[0]
    assert entry.detail["disarmed_scopes"] == 1
