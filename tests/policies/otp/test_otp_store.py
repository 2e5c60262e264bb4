"""One-time-password challenges in the store (policies/otp/codes.py, policies/operations/otp.py).

They live here, beside the plugin that uses them, while tests/policies/ is edited elsewhere.
"""

from __future__ import annotations

import threading

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from policies import PolicyStore, UnknownWorkspace
from policies.errors import ConfigError, KeystileError
from policies.otp.codes import (
    CODE_DIGITS,
    OtpPolicy,
    OtpRejected,
    OtpThrottled,
    RejectReason,
    ThrottleReason,
    new_code,
    normalize_code,
)
from policies.storage.connections import sync_client
from policies.storage.values import CreatedWorkspace
from tests.support.clock import ManualClock

REVEAL = "sdk_key.reveal"


def reject_reason(store: PolicyStore, ws: str, admin: str, action: str, code: str) -> RejectReason:
    with pytest.raises(OtpRejected) as caught:
        store.otp.verify(ws, admin, action, code, actor=f"admin:{admin}")
    return caught.value.reason


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**CODE_DIGITS:06d}"


def test_codes_are_six_digits_from_a_fresh_secret_each_time() -> None:
    codes = [new_code() for _ in range(200)]
    assert all(len(c) == CODE_DIGITS and c.isdigit() for c in codes)
    assert len(set(codes)) > 190  # not one time window repeated


@given(st.text(max_size=20))
def test_normalize_code_yields_six_ascii_digits_or_nothing(text: str) -> None:
    code = normalize_code(text)
    assert code is None or (len(code) == 6 and code.isascii() and code.isdigit())


def test_normalize_code_accepts_what_people_type() -> None:
    assert normalize_code(" 123 456 ") == "123456"
    assert normalize_code("123-456") == "123456"
    assert normalize_code("12345") is None
    assert normalize_code("١٢٣٤٥٦") is None  # Arabic-Indic digits are not the code
    assert normalize_code(123456) is None


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ConfigError):
        OtpPolicy(ttl_seconds=5)
    with pytest.raises(ConfigError):
        OtpPolicy(max_attempts=0)
    with pytest.raises(ConfigError):
        OtpPolicy(max_sends_per_hour=0)


def test_right_code_is_accepted_once(store: PolicyStore, workspace: CreatedWorkspace) -> None:
    ws = workspace.workspace_id
    issued = store.otp.issue(ws, "alice", REVEAL)
    store.otp.verify(ws, "alice", REVEAL, issued.code, actor="admin:alice")
    assert reject_reason(store, ws, "alice", REVEAL, issued.code) is RejectReason.MISSING


def test_only_a_digest_is_stored_with_a_ttl(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    issued = store.otp.issue(ws, "alice", REVEAL)
    keys = list(redis_client.scan_iter(f"ks:{{{ws}}}:otp:*"))
    assert len(keys) == 3
    dump = repr([redis_client.dump(k) for k in keys]) + repr(keys)
    assert issued.code not in dump and "alice" not in dump and REVEAL not in dump
    challenge = next(k for k in keys if ":otp:challenge:" in k)
    assert 0 < redis_client.pttl(challenge) <= 600_000
    assert issued.code not in repr(issued)


def test_five_wrong_tries_void_the_code(store: PolicyStore, workspace: CreatedWorkspace) -> None:
    ws = workspace.workspace_id
    issued = store.otp.issue(ws, "alice", REVEAL)
    wrong = other_code(issued.code)
    left = []
    for _ in range(4):
        with pytest.raises(OtpRejected) as caught:
            store.otp.verify(ws, "alice", REVEAL, wrong, actor="admin:alice")
        assert caught.value.reason is RejectReason.WRONG
        left.append(caught.value.attempts_left)
    assert left == [4, 3, 2, 1]
    assert reject_reason(store, ws, "alice", REVEAL, wrong) is RejectReason.VOID
    # The sixth try, even with the right code, finds nothing to unlock.
    assert reject_reason(store, ws, "alice", REVEAL, issued.code) is RejectReason.MISSING


def test_code_expires_by_the_stores_clock(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    issued = store.otp.issue(ws, "alice", REVEAL, policy=OtpPolicy(ttl_seconds=300))
    clock.advance(299)
    store.otp.verify(ws, "alice", REVEAL, issued.code, actor="admin:alice")
    clock.advance(100)
    issued = store.otp.issue(ws, "alice", REVEAL, policy=OtpPolicy(ttl_seconds=300))
    clock.advance(300)
    assert reject_reason(store, ws, "alice", REVEAL, issued.code) is RejectReason.EXPIRED
    assert reject_reason(store, ws, "alice", REVEAL, issued.code) is RejectReason.MISSING


def test_code_is_bound_to_admin_action_and_workspace(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    other_ws = store.create_workspace("Other", actor="test").workspace_id
    issued = store.otp.issue(ws, "alice", REVEAL)
    assert reject_reason(store, ws, "bob", REVEAL, issued.code) is RejectReason.MISSING
    assert reject_reason(store, ws, "alice", "sdk_key.roll", issued.code) is RejectReason.MISSING
    assert reject_reason(store, other_ws, "alice", REVEAL, issued.code) is RejectReason.MISSING
    # None of that cost alice an attempt, and her code still works where it belongs.
    store.otp.verify(ws, "alice", REVEAL, issued.code, actor="admin:alice")


def test_bobs_wrong_guesses_do_not_touch_alices_challenge(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    alice = store.otp.issue(ws, "alice", REVEAL)
    store.otp.issue(ws, "bob", REVEAL)
    for _ in range(5):
        with pytest.raises(OtpRejected):
            store.otp.verify(ws, "bob", REVEAL, alice.code, actor="admin:bob")
    assert reject_reason(store, ws, "bob", REVEAL, alice.code) is RejectReason.MISSING  # voided
    store.otp.verify(ws, "alice", REVEAL, alice.code, actor="admin:alice")  # still good
    assert reject_reason(store, ws, "alice", REVEAL, alice.code) is RejectReason.MISSING  # used


def test_cooldown_between_sends_then_resend_replaces_the_code(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    first = store.otp.issue(ws, "alice", REVEAL)
    clock.advance(20)
    with pytest.raises(OtpThrottled) as caught:
        store.otp.issue(ws, "alice", REVEAL)
    assert caught.value.reason is ThrottleReason.COOLDOWN and caught.value.retry_after == 40
    # Another action has its own cooldown.
    store.otp.issue(ws, "alice", "sdk_key.roll")
    clock.advance(40)
    second = store.otp.issue(ws, "alice", REVEAL)
    assert first.code != second.code  # two fresh codes agree once in a million runs
    assert reject_reason(store, ws, "alice", REVEAL, first.code) is RejectReason.WRONG
    store.otp.verify(ws, "alice", REVEAL, second.code, actor="admin:alice")
    assert reject_reason(store, ws, "alice", REVEAL, second.code) is RejectReason.MISSING


def test_success_lifts_the_cooldown(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    issued = store.otp.issue(ws, "alice", REVEAL)
    store.otp.verify(ws, "alice", REVEAL, issued.code, actor="admin:alice")
    again = store.otp.issue(ws, "alice", REVEAL)  # a second reveal right away: no cooldown
    assert reject_reason(store, ws, "alice", REVEAL, other_code(again.code)) is RejectReason.WRONG


def test_hourly_cap_counts_every_action(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    policy = OtpPolicy(max_sends_per_hour=3, cooldown_seconds=10)
    store.otp.issue(ws, "alice", REVEAL, policy=policy)
    clock.advance(100)
    store.otp.issue(ws, "alice", "sdk_key.roll", policy=policy)
    clock.advance(100)
    store.otp.issue(ws, "alice", REVEAL, policy=policy)
    clock.advance(100)
    with pytest.raises(OtpThrottled) as caught:
        store.otp.issue(ws, "alice", "secret.reveal:DB", policy=policy)
    assert caught.value.reason is ThrottleReason.HOURLY_CAP
    assert caught.value.retry_after == 3600 - 300
    store.otp.issue(ws, "bob", REVEAL, policy=policy)  # bob has his own count
    clock.advance(3600 - 300)
    store.otp.issue(ws, "alice", "secret.reveal:DB", policy=policy)


def test_cancel_takes_the_send_back(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    policy = OtpPolicy(max_sends_per_hour=1)
    issued = store.otp.issue(ws, "alice", REVEAL, policy=policy)
    store.otp.cancel(issued)
    assert not list(redis_client.scan_iter(f"ks:{{{ws}}}:otp:challenge:*"))
    assert reject_reason(store, ws, "alice", REVEAL, issued.code) is RejectReason.MISSING
    again = store.otp.issue(ws, "alice", REVEAL, policy=policy)  # no cooldown, no cap used
    store.otp.cancel(issued)  # an old cancel leaves the newer challenge alone
    store.otp.verify(ws, "alice", REVEAL, again.code, actor="admin:alice")


def test_concurrent_verifications_accept_the_code_once(
    store: PolicyStore, workspace: CreatedWorkspace, redis_url: str
) -> None:
    ws = workspace.workspace_id
    issued = store.otp.issue(ws, "alice", REVEAL)
    barrier = threading.Barrier(8)
    accepted: list[bool] = []

    def verify() -> None:
        own = PolicyStore(sync_client(redis_url), store.ctx.keyring, clock=store.ctx.clock)
        barrier.wait()
        try:
            own.otp.verify(ws, "alice", REVEAL, issued.code, actor="admin:alice")
            accepted.append(True)
        except OtpRejected:
            accepted.append(False)

    threads = [threading.Thread(target=verify) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(accepted) == [False] * 7 + [True]


def test_failures_are_audited_without_the_code(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    issued = store.otp.issue(ws, "alice", REVEAL)
    wrong = other_code(issued.code)
    with pytest.raises(OtpRejected):
        store.otp.verify(ws, "alice", REVEAL, wrong, actor="admin:alice")
    entry = store.audit_tail(ws, 1)[0]
    assert entry.action == "otp.failed" and entry.actor == "admin:alice"
    assert entry.detail == {"for": REVEAL, "reason": "wrong", "attempts_left": 4}
    assert wrong not in repr(entry) and issued.code not in repr(entry)


def test_bad_inputs_never_reach_redis(store: PolicyStore, workspace: CreatedWorkspace) -> None:
    with pytest.raises(UnknownWorkspace):
        store.otp.issue("ws_AAAAAAAAAAAA", "alice", REVEAL)
    with pytest.raises(UnknownWorkspace):
        store.otp.issue("ws_*", "alice", REVEAL)
    with pytest.raises(KeystileError):
        store.otp.issue(workspace.workspace_id, "alice", "reveal everything")
    with pytest.raises(KeystileError):
        store.otp.issue(workspace.workspace_id, "", REVEAL)


def test_hourly_cap_is_per_admin_across_workspaces(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws, other = workspace.workspace_id, store.create_workspace("Other", actor="t").workspace_id
    third = store.create_workspace("Third", actor="t").workspace_id
    policy = OtpPolicy(max_sends_per_hour=3, cooldown_seconds=10)
    store.otp.issue(ws, "alice", REVEAL, policy=policy)
    with pytest.raises(OtpThrottled) as cooldown:  # refused in the workspace: not counted
        store.otp.issue(ws, "alice", REVEAL, policy=policy)
    assert cooldown.value.reason is ThrottleReason.COOLDOWN
    store.otp.issue(other, "alice", REVEAL, policy=policy)
    clock.advance(100)
    store.otp.issue(other, "alice", REVEAL, policy=policy)
    for where in (ws, other, third):
        with pytest.raises(OtpThrottled) as caught:
            store.otp.issue(where, "alice", "sdk_key.roll", policy=policy)
        assert caught.value.reason is ThrottleReason.HOURLY_CAP
        assert caught.value.retry_after == 3600 - 100
    store.otp.issue(third, "bob", REVEAL, policy=policy)  # bob has his own count
    clock.advance(3600 - 100)
    store.otp.issue(third, "alice", REVEAL, policy=policy)
