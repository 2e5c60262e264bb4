"""Rate limits in the store: the limit syntax, owners, and edits that race (real Redis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import PolicyStore
from policies.errors import NotFound, UnknownWorkspace
from policies.keys.keyformat import KeyKind
from policies.limits.rate_limits import (
    MAX_QUOTA,
    MAX_SECONDS,
    LimitError,
    Limits,
    Window,
    owner,
    owner_for,
)
from policies.operations import limits as ops
from policies.storage.driver import Call, Operation, Script, run
from policies.storage.scripting import Reply
from policies.storage.values import CreatedWorkspace


@pytest.mark.parametrize(
    ("text", "seconds", "quota", "canonical"),
    [
        ("100/min", 60, 100, "100/min"),
        ("50/s", 1, 50, "50/s"),
        ("1000/10s", 10, 1000, "1000/10s"),
        ("100000/day", 86_400, 100_000, "100000/day"),
        ("5/2h", 7200, 5, "5/2h"),
        (" 60 / 60 seconds ", 60, 60, "60/min"),
        ("7/90s", 90, 7, "7/90s"),
        ("1/minute", 60, 1, "1/min"),
        ("3/31day", MAX_SECONDS, 3, "3/31day"),
    ],
)
def test_windows_parse_and_print_canonically(
    text: str, seconds: int, quota: int, canonical: str
) -> None:
    window = Window.parse(text)
    assert (window.seconds, window.quota) == (seconds, quota)
    assert str(window) == canonical


@pytest.mark.parametrize(
    "text",
    ["abc", "0/min", "-1/min", "5/fortnight", "5/", "/min", "5/0s", "5/32day", "1.5/min",
     f"{MAX_QUOTA + 1}/s", "5/min/min", "\uff15/min", ""],
)  # fmt: skip
def test_bad_windows_say_what_is_expected(text: str) -> None:
    with pytest.raises(LimitError) as refused:
        Window.parse(text)
    assert str(refused.value)


@given(st.integers(1, MAX_QUOTA), st.integers(1, MAX_SECONDS))
def test_printed_windows_parse_back_to_themselves(quota: int, seconds: int) -> None:
    window = Window(seconds=seconds, quota=quota)
    assert Window.parse(str(window)) == window


def test_limits_encode_canonically_and_refuse_what_cannot_be_stored() -> None:
    limits = Limits.of({"projects.create": ["10/min"], "*": ["100000/day", "50/s"]})
    assert limits.encode() == '{"*":["50/s","100000/day"],"projects.create":["10/min"]}'
    assert Limits.decode(limits.encode()) == limits
    for bad in ('{"*": ["60/min", "1/60s"]}', '{"*": []}', '{"x": ["1/s"]}', "[]", "{"):
        with pytest.raises(LimitError):
            Limits.decode(bad)
    with pytest.raises(LimitError, match="at most 4"):
        Limits.of({"*": ["1/s", "2/min", "3/h", "4/day", "5/2day"]})


def test_owners() -> None:
    assert owner(KeyKind.PUBLISHABLE, "abc") == "pk"
    assert owner(KeyKind.SDK, "abc") == "sk"
    assert owner(KeyKind.TOKEN, "0123456789ab") == "tk:0123456789ab"
    assert [owner_for(t) for t in ("publishable", "sdk", "0123456789ab")] == [
        "pk",
        "sk",
        "tk:0123456789ab",
    ]
    for bad in ("pk:x", "tk:0123456789ab", "0123456789AB", ""):
        with pytest.raises(LimitError):
            owner_for(bad)


def test_store_round_trip_and_errors(store: PolicyStore, workspace: CreatedWorkspace) -> None:
    ws = workspace.workspace_id
    assert store.limits.replace(ws, "pk", ["100/min"], actor="test").describe() == "key: 100/min"
    store.limits.replace(ws, "pk", ["10/min"], scope="projects.create", actor="test")
    assert store.limits.of(ws, "pk") == Limits.of({"*": ["100/min"], "projects.create": ["10/min"]})
    assert list(store.limits.by_owner(ws)) == ["pk"]
    with pytest.raises(NotFound):
        store.limits.remove(ws, "sk", actor="test")
    with pytest.raises(LimitError):
        store.limits.replace(ws, "pk", ["1/min"], scope="no-such", actor="test")
    with pytest.raises(UnknownWorkspace):
        store.limits.replace("ws_AAAAAAAAAAAA", "pk", ["1/min"], actor="test")
    store.limits.remove(ws, "pk", actor="test")
    store.limits.remove(ws, "pk", scope="projects.create", actor="test")
    assert store.limits.by_owner(ws) == {}  # the last scope gone: the owner's field too
    actions = [e.action for e in store.audit_tail(ws, 10)]
    assert actions.count("limits.set") == 2 and actions.count("limits.removed") == 2


def test_racing_edits_of_one_key_both_land(store: PolicyStore, workspace: CreatedWorkspace) -> None:
    """Admin A reads the limits, admin B saves another scope meanwhile, A writes: the
    guarded write fails, A reads again and reapplies its own edit; nothing is lost."""
    ws = workspace.workspace_id
    store.limits.replace(ws, "pk", ["100/min"], actor="test")
    first = ops.set_limits(store.ctx, ws, "pk", (Window.parse("5/s"),), actor="a")
    call = next(first)  # A's operation reads, up to its write
    while not isinstance(call, Script):
        call = first.send(perform(store, call))
    store.limits.replace(ws, "pk", ["2/min"], scope="projects.create", actor="b")  # B, meanwhile
    reply = perform(store, call)  # A's write: refused by its guard...
    assert int(reply[0]) == Reply.CONFLICT
    final = run(store.client, _rest(first, reply))  # ...so A reads again and writes again
    assert final == Limits.of({"*": ["5/s"], "projects.create": ["2/min"]})
    assert store.limits.of(ws, "pk") == final


def perform(store: PolicyStore, call: Call) -> Any:
    """One call, through the real driver."""

    def one() -> Operation[Any]:
        return (yield call)

    return run(store.client, one())


def _rest(operation: Operation[Any], reply: Any) -> Operation[Any]:
    """What is left of ``operation`` once ``reply`` answers the call it waits on."""
    while True:
        try:
            call = operation.send(reply)
        except StopIteration as done:
            return done.value
        reply = yield call
