"""Store-level checks admin and CLI share: expiries, one audit entry per state change,
bounded audit fields, audited catalog loads."""

import json
import math
import threading

import pytest
import redis

from policies import Catalog, KeystileError, PolicyStore
from policies.storage import audit_fields, schema
from policies.storage.connections import sync_client
from policies.storage.values import CreatedWorkspace
from policies.times import MAX_LIFETIME_SECONDS, format_time
from tests.support.clock import ManualClock


@pytest.mark.parametrize(
    "expires",
    [math.nan, math.inf, -math.inf, 0.0, -1.0, "soon", True],
)
def test_expiries_that_are_not_finite_future_times_are_refused(
    store: PolicyStore, workspace: CreatedWorkspace, expires: object
) -> None:
    with pytest.raises(KeystileError, match="finite time in the future"):
        store.create_token(workspace.workspace_id, "t", actor="t", expires=expires)  # type: ignore[arg-type]
    assert store.list_tokens(workspace.workspace_id) == []


def test_expiries_are_bounded(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    with pytest.raises(KeystileError, match="at most 3650 days"):
        store.create_token(ws, "t", actor="t", expires=clock() + MAX_LIFETIME_SECONDS + 1)
    far = 253402300799 + 14 * 3600  # 9999-12-31T23:59:59-14:00 (issue 11.4)
    with pytest.raises(KeystileError, match="at most 3650 days"):
        store.create_token(ws, "t", actor="t", expires=far)
    made = store.create_token(ws, "t", actor="t", expires=clock() + MAX_LIFETIME_SECONDS)
    assert made.info.expires == clock() + MAX_LIFETIME_SECONDS


@pytest.mark.parametrize("stored", [253402300799 + 50400, 1e300, -1e300, "x", None, math.nan])
def test_any_stored_time_formats(stored: object) -> None:
    assert isinstance(format_time(stored), str)


def test_two_racing_revokes_write_one_audit_entry(
    store: PolicyStore, workspace: CreatedWorkspace, redis_url: str
) -> None:
    ws = workspace.workspace_id
    kid = store.create_token(ws, "ci", actor="t").info.key_id
    barrier = threading.Barrier(8)
    results = []

    def revoke() -> None:
        own = PolicyStore(sync_client(redis_url), store.ctx.keyring, clock=store.ctx.clock)
        barrier.wait()
        results.append(own.revoke_token(ws, kid, actor="racer").revoked)
        own.client.close()

    threads = [threading.Thread(target=revoke) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(r is not None for r in results)
    actions = [e.action for e in store.audit_tail(ws, 100)]
    assert actions.count("token.revoked") == 1
    store.revoke_token(ws, kid, actor="again")
    assert [e.action for e in store.audit_tail(ws, 100)].count("token.revoked") == 1


def test_audit_fields_are_bounded_and_free_of_control_characters(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    store.audit(ws, "admin:a\r\nforged: yes" + "x" * 5000, "probe", {"n\x1b": "v\x00" * 9000})
    [raw] = redis_client.xrevrange(schema.audit(ws), count=1)
    fields = raw[1]
    assert all(c.isprintable() for value in fields.values() for c in value)
    assert len(fields["actor"]) <= audit_fields.MAX_AUDIT_TEXT
    assert len(fields["detail"]) <= audit_fields.MAX_AUDIT_DETAIL + 50
    entry = store.audit_tail(ws, 1)[0]
    assert "\n" not in entry.actor and all(
        c.isprintable() for k, v in entry.detail.items() for c in k + str(v)
    )
    json.loads(fields["detail"])


def test_audit_of_a_megabyte_or_a_self_sharing_detail_stays_bounded_at_the_store_api(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    shared: list[object] = ["x" * 1_000_000]
    for _ in range(40):  # 32 ** 40 items if walked whole: only 3 levels are kept
        shared = [shared] * 32
    store.audit(ws, "a" * 1_000_000, "b" * 1_000_000, {"deep": shared, "big": "c" * 1_000_000})
    [raw] = redis_client.xrevrange(schema.audit(ws), count=1)
    fields = raw[1]
    assert len(fields["actor"]) == audit_fields.MAX_AUDIT_TEXT
    assert len(fields["action"]) == 64
    assert len(fields["detail"]) <= audit_fields.MAX_AUDIT_DETAIL + 50
    assert sum(len(k) + len(v) for k, v in fields.items()) < 3 * audit_fields.MAX_AUDIT_DETAIL
    json.loads(fields["detail"])


def test_catalog_loads_are_audited_in_the_deployment_stream(
    store: PolicyStore, catalog: Catalog
) -> None:
    before = store.deployment.audit_tail(10)
    store.save_catalog(catalog, actor="cli")  # unchanged: no entry
    assert store.deployment.audit_tail(10) == before
    smaller = Catalog.from_dict({"modules": {"x": {"functionalities": {"y": {"routes": []}}}}})
    store.save_catalog(smaller, actor="cli")
    entry = store.deployment.audit_tail(1)[0]
    assert (entry.actor, entry.action) == ("cli", "catalog.loaded")
    assert entry.detail == {
        "fingerprint": smaller.fingerprint(),
        "previous": catalog.fingerprint(),
        "modules": 1,
        "disarmed": 0,
        "disarmed_limits": 0,
        "disarmed_scopes": 0,
    }


def test_a_write_that_changes_nothing_is_not_a_state_change(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    store.set_origins(ws, ["https://app.example.com"], actor="t")
    version = store.workspace(ws).version
    store.set_origins(ws, ["https://app.example.com/"], actor="t")  # same, canonically
    assert store.workspace(ws).version == version
    assert [e.action for e in store.audit_tail(ws, 100)].count("origins.set") == 1


def test_a_damaged_stored_field_does_not_break_the_workspace_list(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    other = store.create_workspace("Other", actor="t")
    redis_client.hset(schema.meta(workspace.workspace_id), mapping={"created": "x", "origins": "{"})
    listed = {w.workspace_id: w for w in store.list_workspaces()}
    assert set(listed) == {workspace.workspace_id, other.workspace_id}
    assert format_time(listed[workspace.workspace_id].created) == "invalid time"
