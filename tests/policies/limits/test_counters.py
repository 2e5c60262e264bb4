"""The shared rate-limit counters (real Redis): a gateway process's lookup of a limited key is
also its first sync of the owner's counters, and grants a lease from what is left."""

from __future__ import annotations

from policies import PolicyStore
from policies.limits import counters
from policies.limits.counters import Tally
from policies.operations.lookup import lookup, lookup_leased
from policies.storage.values import CreatedWorkspace
from tests.support.clock import ManualClock

STALE = 5.0


def first(store: PolicyStore, key: str, process: str) -> dict[tuple[str, int], tuple[int, int]]:
    """(scope, seconds) -> (lease, processes) of ``process``'s lookup of ``key``."""
    policy, found = store.run(lookup_leased(store.ctx, key, process=process, stale=STALE))
    assert policy.limits is not None
    return {where: (totals.lease, totals.processes) for where, (_, totals) in found.items()}


def test_a_lookup_leases_each_window_from_what_is_left(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws, key = workspace.workspace_id, workspace.publishable_key
    store.limits.replace(ws, "pk", ["10/min", "1000/day"], actor="test")
    store.limits.replace(ws, "pk", ["3/min"], scope="projects.create", actor="test")
    # The first process gets everything; a second one what the first's lease leaves: nothing.
    assert first(store, key, "a") == {
        ("*", 60): (10, 1),
        ("*", 86_400): (1000, 1),
        ("projects.create", 60): (3, 1),
    }
    assert first(store, key, "b") == {
        ("*", 60): (0, 2),
        ("*", 86_400): (0, 2),
        ("projects.create", 60): (0, 2),
    }
    # A process that holds a lease keeps it: the lookup only reads (-1).
    assert first(store, key, "a")[("*", 60)] == (-1, 2)
    # The plain lookup (no process) leases nothing.
    assert store.run(lookup(store.ctx, key)).limits is not None


def test_a_process_joining_a_spent_window_gets_no_lease(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws, key = workspace.workspace_id, workspace.publishable_key
    store.limits.replace(ws, "pk", ["10/min"], actor="test")
    clock = ManualClock(1_800_000_030.0)  # mid-bucket: sync and lookup see one bucket
    store = PolicyStore(store.client, store.ctx.keyring, clock=clock)
    now = clock()
    bucket = int(now // 60)
    tally = Tally(ws, "pk", "*", 60, bucket, 10, add=10)
    (totals,) = store.run(counters.sync([tally], now=now, process="a", stale=STALE))
    assert (totals.current, totals.lease) == (10, 0)
    _, found = store.run(lookup_leased(store.ctx, key, process="b", stale=STALE))
    assert found == {("*", 60): (bucket, found["*", 60][1])}
    joined = found["*", 60][1]
    assert (joined.current, joined.processes, joined.lease) == (10, 2, 0)


def test_a_leaving_process_gives_its_lease_and_presence_back(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws, key = workspace.workspace_id, workspace.publishable_key
    store.limits.replace(ws, "pk", ["10/min"], actor="test")
    clock = ManualClock(1_800_000_030.0)
    store = PolicyStore(store.client, store.ctx.keyring, clock=clock)
    assert first(store, key, "a") == {("*", 60): (10, 1)}
    tally = Tally(ws, "pk", "*", 60, int(clock() // 60), 10, add=3)
    (totals,) = store.run(
        counters.sync([tally], now=clock(), process="a", stale=STALE, leaving=True)
    )
    assert (totals.current, totals.lease) == (3, 0)  # its counts land; its lease goes
    assert store.client.hkeys(counters.leases(ws, "pk", "*", 60)) == []
    assert store.client.hkeys(counters.presence(ws, "pk")) == []
    assert first(store, key, "b") == {("*", 60): (7, 1)}  # at once, not 3 intervals on


def test_a_late_processs_lease_stays_set_aside_while_its_bucket_lasts(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    """A process that has not synced lately is no longer counted live (N), but the counts it
    may have admitted under its lease have not reached Redis: its lease stays set aside
    until its bucket ends, or until it gives it back ("release")."""
    ws, key = workspace.workspace_id, workspace.publishable_key
    store.limits.replace(ws, "pk", ["10/min"], actor="test")
    clock = ManualClock(1_800_000_000.0)  # a minute's start
    store = PolicyStore(store.client, store.ctx.keyring, clock=clock)
    assert first(store, key, "a") == {("*", 60): (10, 1)}
    clock.advance(30)  # "a" is not live any more (stale: 5 s); its lease is kept aside
    assert first(store, key, "b") == {("*", 60): (0, 1)}
    bucket = int(clock() // 60)
    release = Tally(ws, "pk", "*", 60, bucket, 10, add=4, mode="release")
    (totals,) = store.run(counters.sync([release], now=clock(), process="a", stale=STALE))
    assert (totals.current, totals.lease) == (4, 0)
    later = Tally(ws, "pk", "*", 60, bucket, 10)
    (totals,) = store.run(counters.sync([later], now=clock(), process="b", stale=STALE))
    assert totals.lease == 6  # what "a" left
    assert store.client.hget(counters.leases(ws, "pk", "*", 60), "b") == f"6:{bucket}"
    clock.advance(30)  # the next minute: "b" is not live, its lease's bucket is over
    assert first(store, key, "c") == {("*", 60): (6, 1)}  # 10 - 4 of the weighted minute
    assert store.client.hkeys(counters.leases(ws, "pk", "*", 60)) == ["c"]
