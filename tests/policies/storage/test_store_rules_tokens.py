import threading

import pytest

from policies import CatalogError, KeystileError, NotFound, PolicyStore, Rule
from policies.errors import AlreadyExists
from policies.operations import lookup as store_lookup
from policies.storage.connections import sync_client
from tests.support.clock import ManualClock
from tests.support.store import lookup


def test_rules_are_validated_idempotent_and_survive_rotation(store: PolicyStore) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    with pytest.raises(CatalogError, match="unknown module"):
        store.add_rule(ws, Rule("payroll", "read"), actor="t")
    assert store.add_rule(ws, Rule("billing", "read"), actor="t")
    version = store.workspace(ws).version
    assert not store.add_rule(ws, Rule("billing", "read"), actor="t")
    assert store.workspace(ws).version == version  # no change, no event
    store.add_rule(ws, Rule("projects", "*"), actor="t")
    new_pk = store.rotate_publishable_key(ws, actor="t")
    policy = lookup(store, new_pk)
    assert policy is not None
    assert policy.rules == frozenset({Rule("billing", "read"), Rule("projects", "*")})
    assert store.list_rules(ws) == [Rule("billing", "read"), Rule("projects", "*")]
    assert store.remove_rule(ws, Rule("billing", "read"), actor="t")
    assert not store.remove_rule(ws, Rule("billing", "read"), actor="t")


def test_rules_need_a_catalog(store: PolicyStore) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    store.client.delete("ks:catalog")
    with pytest.raises(CatalogError, match="no catalog"):
        store.add_rule(ws, Rule("billing", "read"), actor="t")


def test_tokens_lifecycle(store: PolicyStore, clock: ManualClock) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    created = store.create_token(
        ws, "ci deploy", actor="t", expires=clock() + 60, rules=[Rule("billing", "*")]
    )
    policy = lookup(store, created.token)
    assert policy is not None and policy.name == "ci deploy"
    assert policy.rules == frozenset({Rule("billing", "*")})
    assert policy.expires == clock() + 60  # decided by the gateway (tests/gateway)
    clock.advance(60)
    [info] = store.list_tokens(ws)
    assert (info.key_id, info.status(clock())) == (created.info.key_id, "expired")
    store.run(store_lookup.touch(store.ctx, {ws: {info.key_id: 123.0}}))
    assert store.list_tokens(ws)[0].last_used == 123.0
    revoked = store.revoke_token(ws, info.key_id, actor="t")
    assert revoked.status(clock()) == "revoked"
    assert lookup(store, created.token) is None
    assert store.revoke_token(ws, info.key_id, actor="t").revoked == revoked.revoked
    with pytest.raises(NotFound):
        store.revoke_token(ws, "nope", actor="t")


def test_token_validation(store: PolicyStore, clock: ManualClock) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    with pytest.raises(KeystileError, match="future"):
        store.create_token(ws, "x", actor="t", expires=clock() - 1)
    with pytest.raises(KeystileError, match="token name"):
        store.create_token(ws, "  ", actor="t")
    with pytest.raises(CatalogError):
        store.create_token(ws, "x", actor="t", rules=[Rule("nope", "*")])
    assert store.list_tokens(ws) == []


def test_secrets(store: PolicyStore) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    store.secrets.put(ws, "STRIPE_KEY", "sk_test_123", actor="t")
    assert store.secrets.names(ws) == ["STRIPE_KEY"]
    assert "sk_test_123" not in str(store.client.hgetall(f"ks:{{{ws}}}:secrets"))
    assert store.secrets.reveal(ws, "STRIPE_KEY", actor="admin:a") == "sk_test_123"
    assert store.audit_tail(ws, 1)[0].action == "secret.revealed"
    store.secrets.delete(ws, "STRIPE_KEY", actor="t")
    with pytest.raises(NotFound):
        store.secrets.delete(ws, "STRIPE_KEY", actor="t")
    with pytest.raises(KeystileError, match="secret name"):
        store.secrets.put(ws, "bad name", "v", actor="t")
    assert store.secrets.names(ws) == []


def test_origins(store: PolicyStore) -> None:
    created = store.create_workspace("Acme", actor="t")
    store.set_origins(created.workspace_id, ["https://app.example.com/", ""], actor="t")
    policy = lookup(store, created.publishable_key)
    assert policy is not None and policy.origins == ("https://app.example.com",)
    # One canonical form, the gateway's own (policies.origins): case and default port go.
    store.set_origins(created.workspace_id, ["HTTPS://App.Example.com:443/"], actor="t")
    policy = lookup(store, created.publishable_key)
    assert policy is not None and policy.origins == ("https://app.example.com",)
    with pytest.raises(KeystileError, match="origin"):
        store.set_origins(created.workspace_id, ["javascript:alert(1)"], actor="t")


def test_adding_a_secret_without_replacing_is_one_atomic_step(
    store: PolicyStore, redis_url: str
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def add(n: int) -> None:
        own = PolicyStore(sync_client(redis_url), store.ctx.keyring, clock=store.ctx.clock)
        barrier.wait()
        try:
            own.secrets.put(ws, "DB", f"value-{n}", actor="t", replace=False)
            outcomes.append(f"value-{n}")
        except AlreadyExists:
            outcomes.append("exists")
        finally:
            own.client.close()

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [o for o in outcomes if o != "exists"]
    assert len(won) == 1 and outcomes.count("exists") == 7
    assert store.secrets.reveal(ws, "DB", actor="t") == won[0]  # the winner's value stays
    assert [e.action for e in store.audit_tail(ws, 10)].count("secret.set") == 1
    store.secrets.put(ws, "DB", "replaced", actor="t")  # replace=True (the default) still sets
    assert store.secrets.reveal(ws, "DB", actor="t") == "replaced"
