"""A workspace's token lifetime policy: new tokens held to it (to the second), existing ones
reported out of it and never changed, every change audited, and a creation racing a change
committed only under the policy it checked."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from policies import KeystileError, PolicyStore
from policies.lifetime import DAY, FIELD, LifetimePolicy, LifetimeRefused
from policies.operations import tokens
from policies.storage import schema
from policies.storage.driver import Operation, T
from policies.storage.values import CreatedWorkspace
from tests.support.clock import ManualClock

NINETY = LifetimePolicy(max_days=90)
NOW = ManualClock().now  # the store's clock in these tests
NONE = "none (tokens may live forever)"
WITHIN_90, WITHIN_30 = (f"tokens expire within {n} days of creation" for n in (90, 30))


def test_no_policy_is_the_default_and_lets_any_token_be_created(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    assert store.lifetime.policy(ws) == LifetimePolicy()
    assert store.lifetime.policy(ws).empty
    store.create_token(ws, "forever", actor="t")
    store.create_token(ws, "ten years", actor="t", expires=store.ctx.clock() + 3650 * DAY)


def test_a_maximum_refuses_longer_lifetimes_to_the_second(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    store.lifetime.set_policy(ws, NINETY, actor="t")
    now = clock()
    exactly = store.create_token(ws, "90 days", actor="t", expires=now + 90 * DAY)
    assert exactly.info.expires == now + 90 * DAY
    longer = "at most 90 days: this one would live 90 days 0h00m01s"
    with pytest.raises(LifetimeRefused, match=longer):
        store.create_token(ws, "a second more", actor="t", expires=now + 90 * DAY + 1)
    with pytest.raises(LifetimeRefused, match="requires tokens to expire within 90 days"):
        store.create_token(ws, "forever", actor="t")
    store.create_token(ws, "a day", actor="t", expires=now + DAY)
    names = {t.name for t in store.list_tokens(ws)}
    assert names == {"90 days", "a day"}  # the refused ones left nothing behind


def test_required_expiry_without_a_maximum(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    store.lifetime.set_policy(ws, LifetimePolicy(require_expiry=True), actor="t")
    with pytest.raises(LifetimeRefused, match="requires tokens to expire: give the token"):
        store.create_token(ws, "forever", actor="t")
    store.create_token(ws, "long", actor="t", expires=clock() + 3650 * DAY)


@pytest.mark.parametrize("days", [0, -1, 3651, 10**12, True, 1.5, "30"])
def test_a_maximum_out_of_range_is_refused(days: object) -> None:
    with pytest.raises(KeystileError, match="from 1 to 3650"):
        LifetimePolicy(max_days=days)  # type: ignore[arg-type]


def test_existing_tokens_are_reported_out_of_policy_never_changed(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    now = clock()
    forever = store.create_token(ws, "forever", actor="t").info
    long = store.create_token(ws, "long", actor="t", expires=now + 91 * DAY).info
    edge = store.create_token(ws, "edge", actor="t", expires=now + 90 * DAY).info
    short = store.create_token(ws, "short", actor="t", expires=now + 10 * DAY).info
    gone = store.create_token(ws, "gone", actor="t").info
    store.revoke_token(ws, gone.key_id, actor="t")
    records = redis_client.hgetall(schema.tokens(ws))
    store.lifetime.set_policy(ws, NINETY, actor="t")
    assert redis_client.hgetall(schema.tokens(ws)) == records  # nothing rewritten
    by_name = {t.name: t for t in store.list_tokens(ws)}
    policy = store.lifetime.policy(ws)
    verdicts = {name: policy.violation(info, clock()) for name, info in by_name.items()}
    assert verdicts == {
        "forever": "never expires (maximum 90 days)",
        "long": "lives 91 days (maximum 90 days)",
        "edge": None,
        "short": None,
        "gone": None,  # revoked: no longer live, so no longer a policy matter
    }
    assert {forever.key_id, long.key_id, edge.key_id, short.key_id}  # all still there
    clock.advance(92 * DAY)  # expired tokens are no longer a policy matter either
    assert policy.violation(by_name["long"], clock()) is None
    required = LifetimePolicy(require_expiry=True)
    verdict = required.violation(by_name["forever"], clock())
    assert verdict == "never expires (an expiry is required)"


def test_changes_are_audited_once_and_an_empty_policy_removes_the_field(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    before, changed = store.lifetime.set_policy(ws, NINETY, actor="admin:a")
    assert before == LifetimePolicy() and changed
    assert store.lifetime.set_policy(ws, NINETY, actor="admin:a") == (NINETY, False)
    store.lifetime.set_policy(ws, LifetimePolicy(30, True), actor="cli")
    store.lifetime.set_policy(ws, LifetimePolicy(), actor="cli")
    assert redis_client.hget(schema.meta(ws), FIELD) is None
    entries = [e for e in store.audit_tail(ws, 20) if e.action == "policy.changed"][::-1]
    assert [(e.actor, e.detail) for e in entries] == [
        ("admin:a", {"max_token_days": 90, "require_expiry": False, "was": NONE}),
        ("cli", {"max_token_days": 30, "require_expiry": True, "was": WITHIN_90}),
        ("cli", {"max_token_days": None, "require_expiry": False, "was": WITHIN_30}),
    ]


def test_a_damaged_stored_policy_refuses_creation_until_set_again(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "old", actor="t").info
    for junk in ("{", '{"max_token_days": 0, "require_expiry": false}', "[]", '"x"'):
        redis_client.hset(schema.meta(ws), FIELD, junk)
        policy = store.lifetime.policy(ws)
        assert policy.damaged and "damaged" in policy.describe()
        assert policy.violation(token, clock()) is None  # shown, never an error
        with pytest.raises(LifetimeRefused, match="damaged: set it again"):
            store.create_token(ws, "new", actor="t", expires=clock() + DAY)
    store.lifetime.set_policy(ws, NINETY, actor="t")
    store.create_token(ws, "new", actor="t", expires=clock() + DAY)


def test_unknown_workspace(store: PolicyStore) -> None:
    from policies.errors import UnknownWorkspace

    with pytest.raises(UnknownWorkspace):
        store.lifetime.policy("ws_nope")
    with pytest.raises(UnknownWorkspace):
        store.lifetime.set_policy("ws_nope", NINETY, actor="t")


def after_first_call(operation: Operation[T], between: Callable[[], object]) -> Operation[T]:
    """``operation``, with ``between()`` run once its first call is answered: another
    writer acting at exactly that point, every time."""
    reply = yield next(operation)
    between()
    try:
        call = operation.send(reply)
        while True:
            call = operation.send((yield call))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def test_a_creation_under_a_policy_replaced_meanwhile_commits_nothing(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    """The creation read "no policy" (its first call), then a 90-day maximum was set before
    its write: the write's guard refuses, nothing of the token is stored."""
    ws = workspace.workspace_id
    held = {k: redis_client.hlen(k) for k in (schema.tokens(ws), schema.credentials(ws))}
    creation = tokens.create_token(store.ctx, ws, "forever", actor="t")
    tighten = lambda: store.lifetime.set_policy(ws, NINETY, actor="t")  # noqa: E731
    with pytest.raises(KeystileError, match="policy changed meanwhile: nothing was created"):
        store.run(after_first_call(creation, tighten))
    assert {k: redis_client.hlen(k) for k in held} == held
    assert redis_client.zcard(schema.token_index(ws)) == 0
    assert store.audit_tail(ws, 5)[0].action == "policy.changed"
    # Unchanged meanwhile: the same interleaving with an unrelated write commits.
    creation = tokens.create_token(store.ctx, ws, "monthly", actor="t", expires=NOW + 30 * DAY)
    created = store.run(after_first_call(creation, lambda: store.list_rules(ws)))
    assert created.info.name == "monthly"
