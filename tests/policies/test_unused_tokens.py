"""The "unused for N days" view and its confirmed revoke, against a real Redis with the
store's clock moved by hand: the day boundary to the second, last uses recorded by the
gateway's own flush operation, the index built, mended and bounded, and a revoke that
re-checks every id it is given."""

from __future__ import annotations

import pytest
import redis

from policies import KeystileError, PolicyStore
from policies.lifetime import DAY
from policies.operations import unused_tokens, usage
from policies.storage import schema
from policies.storage.values import CreatedWorkspace
from tests.support.clock import ManualClock


def flush(store: PolicyStore, ws: str, *key_ids: str) -> None:
    """A gateway's last-use flush of ``key_ids`` at the store's time (its own operation)."""
    now = store.ctx.clock()
    store.run(usage.record(store.ctx, {ws: dict.fromkeys(key_ids, now)}, {}))


def unused(store: PolicyStore, ws: str, days: int, **page: int) -> list[str]:
    return [t.name for t in store.lifetime.unused(ws, days, **page).items]


def test_a_never_used_token_is_unused_from_exactly_n_days_after_creation(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    store.create_token(ws, "idle", actor="t")
    clock.advance(90 * DAY - 1)
    assert unused(store, ws, 90) == []
    assert store.lifetime.unused(ws, 90).total == 0
    clock.advance(1)
    assert unused(store, ws, 90) == ["idle"]
    page = store.lifetime.unused(ws, 90)
    assert page.total == 1 and page.cutoff == clock() - 90 * DAY and not page.partial


def test_a_use_recorded_by_the_gateway_restarts_the_count(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    used = store.create_token(ws, "used", actor="t").info
    store.create_token(ws, "idle", actor="t")
    clock.advance(50 * DAY)
    clock.advance(1800)  # half past: the index holds the hour, the hash the second
    flush(store, ws, used.key_id, "0123456789ab")  # a token, and a key that is not one
    assert redis_client.zscore(schema.token_activity(ws), used.key_id) == clock() - 1800
    assert redis_client.zscore(schema.token_activity(ws), "0123456789ab") is None
    clock.advance(40 * DAY - 1)
    assert unused(store, ws, 90) == ["idle"]
    # The index says 40 days and half an hour; the hash, one second less: not yet.
    assert unused(store, ws, 40) == ["idle"]
    clock.advance(1)
    assert unused(store, ws, 40) == ["idle", "used"]  # the longest idle first
    assert unused(store, ws, 41) == ["idle"]
    clock.advance(50 * DAY)
    assert unused(store, ws, 90) == ["idle", "used"]


def test_revoked_and_expired_tokens_are_not_unused(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    gone = store.create_token(ws, "revoked", actor="t").info
    store.create_token(ws, "expiring", actor="t", expires=clock() + 100 * DAY)
    clock.advance(1)
    store.create_token(ws, "live", actor="t")
    store.revoke_token(ws, gone.key_id, actor="t")
    assert redis_client.zscore(schema.token_activity(ws), gone.key_id) is None
    flush(store, ws, gone.key_id)  # a gateway's late flush does not bring it back
    assert redis_client.zscore(schema.token_activity(ws), gone.key_id) is None
    clock.advance(99 * DAY)
    assert unused(store, ws, 90) == ["expiring", "live"]
    clock.advance(DAY)
    assert unused(store, ws, 90) == ["live"]
    assert store.lifetime.unused(ws, 90).total == 1  # the expired entry was dropped on the way
    assert redis_client.zcard(schema.token_activity(ws)) == 2  # "live" and the marker


def test_pages_are_ranges_of_the_longest_idle(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    for n in range(7):
        store.create_token(ws, f"t{n}", actor="t")
        clock.advance(DAY)
    clock.advance(30 * DAY)
    assert unused(store, ws, 30, limit=3) == ["t0", "t1", "t2"]
    assert unused(store, ws, 30, offset=3, limit=3) == ["t3", "t4", "t5"]
    assert unused(store, ws, 32) == ["t0", "t1", "t2", "t3", "t4", "t5"]
    assert store.lifetime.unused(ws, 30, offset=6, limit=3).total == 7


def test_an_index_from_before_or_cut_short_is_built_from_the_hashes(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    ids = [store.create_token(ws, f"t{n:04}", actor="t").info.key_id for n in range(1200)]
    store.revoke_token(ws, ids[0], actor="t")
    clock.advance(10 * DAY)
    flush(store, ws, *ids[:600])
    clock.advance(80 * DAY)
    expected = unused(store, ws, 90, limit=1000)
    assert set(expected) == {f"t{n:04}" for n in range(600, 1200)}
    redis_client.delete(schema.token_activity(ws))  # a deployment from before the index
    redis_client.hset(schema.last_used(ws), ids[1], repr(clock() - 85 * DAY))  # old gateway
    assert unused(store, ws, 90, limit=1000) == expected
    assert redis_client.zcard(schema.token_activity(ws)) == 1199 + 1  # live ones, the marker
    redis_client.zrem(schema.token_activity(ws), "~built", *ids[700:])  # a build cut short
    assert unused(store, ws, 90, limit=1000) == expected


def test_stale_entries_are_checked_against_the_hashes_and_mended(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    used = store.create_token(ws, "used by an old gateway", actor="t").info
    gone = store.create_token(ws, "revoked meanwhile", actor="t").info
    store.create_token(ws, "idle", actor="t")
    unused(store, ws, 1)  # the index is complete
    clock.advance(95 * DAY)
    redis_client.hset(schema.last_used(ws), used.key_id, repr(clock() - DAY))  # hash only
    store.revoke_token(ws, gone.key_id, actor="t")
    redis_client.zadd(schema.token_activity(ws), {gone.key_id: 1.0})  # a racing build's
    assert unused(store, ws, 90) == ["idle"]
    assert redis_client.zscore(schema.token_activity(ws), used.key_id) == clock() - DAY
    assert redis_client.zscore(schema.token_activity(ws), gone.key_id) is None


def test_one_read_is_bounded_whatever_the_index_holds(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock, redis_client: redis.Redis
) -> None:
    """3,000 stale entries (no token behind them) before the one real one: a call reads at
    most READ_BOUND entries and says it stopped short; the entries it read are dropped, so
    the next call reaches the token."""
    ws = workspace.workspace_id
    store.create_token(ws, "idle", actor="t")
    unused(store, ws, 1)
    stale = {f"{n:012x}": 0.5 for n in range(3000)}
    redis_client.zadd(schema.token_activity(ws), stale)
    clock.advance(91 * DAY)
    first = store.lifetime.unused(ws, 90)
    assert first.items == [] and first.partial
    assert redis_client.zcard(schema.token_activity(ws)) == 3002 - unused_tokens.READ_BOUND
    assert unused(store, ws, 90) == ["idle"]
    assert redis_client.zcard(schema.token_activity(ws)) == 2


def test_revoke_rechecks_each_id_it_is_given(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    other = store.create_workspace("Other", actor="t")
    idle = [store.create_token(ws, f"idle{n}", actor="t").info.key_id for n in range(3)]
    used = store.create_token(ws, "used since", actor="t").info.key_id
    gone = store.create_token(ws, "revoked", actor="t").info.key_id
    foreign = store.create_token(other.workspace_id, "theirs", actor="t").info.key_id
    clock.advance(91 * DAY)
    young = store.create_token(ws, "young", actor="t").info.key_id
    shown = [t.key_id for t in store.lifetime.unused(ws, 90).items]
    assert set(shown) == {*idle, used, gone}
    flush(store, ws, used)  # used between the view and the confirmation
    store.revoke_token(ws, gone, actor="t")
    done = store.lifetime.revoke_unused(
        ws, [*shown, idle[0], foreign, young], 90, actor="admin:alice"
    )
    assert sorted(t.key_id for t in done.revoked) == sorted(idle)
    assert all(t.revoked == clock() for t in done.revoked)
    assert dict(done.skipped) == {
        used: "used less than 90 days ago",
        gone: "already revoked",
        foreign: "not a token of this workspace",
        young: "created less than 90 days ago",
    }
    # The others are untouched.
    statuses = {t.key_id: t.status(clock()) for t in store.list_tokens(ws)}
    assert statuses[used] == statuses[young] == "active"
    assert store.list_tokens(other.workspace_id)[0].status(clock()) == "active"
    entries = store.audit_tail(ws, 10)
    assert entries[0].action == "tokens.unused_revoked"
    assert entries[0].actor == "admin:alice"
    revoked_ids = [t.key_id for t in done.revoked]  # in the order they were shown
    assert entries[0].detail == {"days": 90, "revoked": 3, "skipped": 4, "key_ids": revoked_ids}
    assert [e.action for e in entries[1:4]] == ["token.revoked"] * 3
    assert unused(store, ws, 90) == []


@pytest.mark.parametrize("days", [0, -1, 3651, 10**18, True, 2.5, "90", None])
def test_days_out_of_range_are_refused(
    store: PolicyStore, workspace: CreatedWorkspace, days: object
) -> None:
    ws = workspace.workspace_id
    with pytest.raises(KeystileError, match="from 1 to 3650"):
        store.lifetime.unused(ws, days)  # type: ignore[arg-type]
    with pytest.raises(KeystileError, match="from 1 to 3650"):
        store.lifetime.revoke_unused(ws, ["0123456789ab"], days, actor="t")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key_ids", "message"),
    [
        ([], "name 1 to 1000 tokens"),
        (["0123456789ab"] * 2 + [f"{n:012x}" for n in range(1000)], "name 1 to 1000 tokens"),
        (["../../x"], "12 hexadecimal characters"),
        (["0123456789AB"], "12 hexadecimal characters"),
        ([7], "12 hexadecimal characters"),
        ("0123456789ab", "come as a list"),
    ],
)
def test_bad_key_ids_are_refused_before_anything_is_read(
    store: PolicyStore, workspace: CreatedWorkspace, key_ids: object, message: str
) -> None:
    with pytest.raises(KeystileError, match=message):
        store.lifetime.revoke_unused(workspace.workspace_id, key_ids, 90, actor="t")  # type: ignore[arg-type]
    assert store.audit_tail(workspace.workspace_id, 1)[0].action != "tokens.unused_revoked"
