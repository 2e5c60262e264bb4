"""The decision cache's bookkeeping, without Redis: the TTLCache's size and time bounds, the
index by workspace and version kept in step with them, what a version check touches, the
metrics of evicted entries, and what cached entries share."""

from __future__ import annotations

from typing import Any

import pytest
from cachetools import Cache
from prometheus_client import CollectorRegistry

from gateway.keys.cache import DecisionCache
from gateway.keys.cached_key import CachedKey
from gateway.metrics import GatewayMetrics
from policies import Rule
from policies.keys.keyformat import KeyKind
from policies.storage.values import KeyPolicy
from tests.support.clock import ManualClock

TTL = 300.0
STALE = 30.0
WS_A, WS_B = "ws_AAAAAAAAAAAA", "ws_BBBBBBBBBBBB"


class Watched(CachedKey):
    """A cache entry that records every attribute read (the cache's work on it)."""

    __slots__ = ()
    reads: set[bytes] = set()

    def __getattribute__(self, name: str) -> Any:
        Watched.reads.add(object.__getattribute__(self, "cache_key"))
        return object.__getattribute__(self, name)


def make_cache(timer: ManualClock, size: int = 100_000) -> tuple[DecisionCache, list[CachedKey]]:
    evicted: list[CachedKey] = []
    cache = DecisionCache(
        size=size,
        ttl=TTL,
        negative_size=10,
        negative_ttl=5,
        stale_bound=STALE,
        timer=timer,
        on_evict=evicted.append,
    )
    return cache, evicted


def entry(
    n: int, ws: str = WS_A, version: int = 1, kind: KeyKind = KeyKind.TOKEN, now: float = 0.0
) -> CachedKey:
    # A new string each time, as each lookup's reply gives (so interning is visible).
    policy = KeyPolicy("".join(ws), kind, f"key{n}", version=version, name=f"t{n}")
    return Watched(n.to_bytes(8, "big"), policy, now)


def held(cache: DecisionCache) -> dict[bytes, CachedKey]:
    """What the TTLCache stores, expired entries not yet purged included."""
    return {e.cache_key: e for e in cache.positive.held()}


def assert_index_matches(cache: DecisionCache) -> None:
    """The index holds exactly the TTLCache's keys, each under its entry's workspace/version."""
    stored = held(cache)
    assert sorted(Cache.__iter__(cache.positive)) == sorted(stored)  # held() missed nothing
    indexed = {
        key: (ws, version)
        for ws, by_version in cache._by_workspace.items()
        for version, keys in by_version.items()
        for key in keys
    }
    assert indexed == {key: (e.workspace_id, e.version) for key, e in stored.items()}
    assert all(
        by_version and all(by_version.values()) for by_version in cache._by_workspace.values()
    )


def test_beyond_its_size_the_least_recently_used_leaves() -> None:
    timer = ManualClock(1000.0)
    cache, evicted = make_cache(timer, size=3)
    first, second, third = (entry(n, now=timer()) for n in range(3))
    for e in (first, second, third):
        assert cache.put(e)
    assert cache.positive[first.cache_key] is first  # read as the request path does: reordered
    assert cache.put(entry(3, ws=WS_B, now=timer()))
    assert evicted == [second] and len(cache) == 3
    assert cache.put(entry(4, now=timer()))
    assert evicted == [second, third]
    assert set(held(cache)) == {first.cache_key, (3).to_bytes(8, "big"), (4).to_bytes(8, "big")}
    assert_index_matches(cache)


def test_entries_leave_cache_ttl_after_their_lookup_used_or_not() -> None:
    timer = ManualClock(1000.0)
    cache, evicted = make_cache(timer)
    busy, idle = entry(1, now=timer()), entry(2, ws=WS_B, now=timer())
    assert cache.put(busy) and cache.put(idle)
    for _ in range(int(TTL) - 1):  # used and confirmed every second: still not re-armed
        timer.advance(1)
        assert cache.positive[busy.cache_key] is busy
        cache.reconcile({WS_A: 1, WS_B: 1}, checked_at=timer())
    assert evicted == [] and cache.workspace_ids() == [WS_A, WS_B]
    timer.advance(1)  # TTL seconds after the lookup
    assert busy.cache_key not in cache.positive  # looked up again by the next request
    assert len(held(cache)) == 2  # expired, not yet purged: still indexed
    assert_index_matches(cache)
    assert cache.workspace_ids() == []  # the version check's first step purges them
    assert sorted(evicted, key=id) == sorted([busy, idle], key=id)
    assert held(cache) == {} and cache._by_workspace == {}


def test_an_insertion_purges_what_expired_before_it() -> None:
    timer = ManualClock(1000.0)
    cache, evicted = make_cache(timer)
    old = entry(1, now=timer())
    assert cache.put(old)
    timer.advance(TTL / 2)
    younger = entry(2, now=timer())
    assert cache.put(younger)
    timer.advance(TTL / 2)
    assert cache.put(entry(3, ws=WS_B, now=timer()))
    assert evicted == [old]
    assert_index_matches(cache)
    assert cache.workspace_ids() == [WS_A, WS_B]


def test_a_key_looked_up_again_replaces_its_expired_entry() -> None:
    timer = ManualClock(1000.0)
    cache, evicted = make_cache(timer)
    old = entry(1, version=1, now=timer())
    assert cache.put(old)
    timer.advance(TTL)
    new = entry(1, version=1, now=timer())
    assert cache.put(new)  # same key, workspace and version: the index keeps the key
    assert evicted == [old] and cache.entries() == [new]
    assert_index_matches(cache)
    timer.advance(TTL - 1)
    assert cache.positive[new.cache_key] is new  # a full TTL from its own lookup


def test_replacing_an_entry_hands_over_the_old_one() -> None:
    timer = ManualClock(1000.0)
    cache, evicted = make_cache(timer)
    old, new = entry(1, now=timer()), entry(1, version=2, now=timer())
    assert cache.put(old) and cache.put(new)
    assert evicted == [old] and cache.entries() == [new]  # its hits and usage are not lost
    assert_index_matches(cache)
    assert cache.evict_workspace(WS_A, 3) == 1 and cache.workspace_ids() == []


def test_events_evict_exactly_the_outdated_entries() -> None:
    timer = ManualClock(1000.0)
    cache, evicted = make_cache(timer)
    v1 = [entry(n, WS_A, version=1) for n in range(3)]
    v2 = [entry(n, WS_A, version=2) for n in range(3, 5)]
    other = [entry(n, WS_B, version=1) for n in range(5, 7)]
    for e in v1 + v2 + other:
        assert cache.put(e)
    assert cache.evict_workspace(WS_A, 2) == 3
    assert sorted(evicted, key=id) == sorted(v1, key=id)
    assert_index_matches(cache)
    assert not cache.put(entry(9, WS_A, version=1))  # a lookup in flight before the event
    assert cache.evict_workspace(WS_B) == 2 and cache.workspace_ids() == [WS_A]
    assert_index_matches(cache)


def test_version_check_only_touches_mismatched_workspaces() -> None:
    timer = ManualClock(1000.0)
    cache, evicted = make_cache(timer)
    current = [entry(n, WS_A, version=7, now=timer()) for n in range(3000)]
    outdated = [entry(n, WS_B, version=3, now=timer()) for n in range(3000, 3010)]
    for e in current + outdated:
        assert cache.put(e)
    timer.advance(TTL / 2)
    Watched.reads.clear()
    assert cache.workspace_ids() == [WS_A, WS_B]
    dropped = cache.reconcile({WS_A: 7, WS_B: 4}, checked_at=timer())
    assert dropped == 10 and {e.key_id for e in evicted} == {e.key_id for e in outdated}
    assert len(cache) == 3000 and cache.trusted_until == timer() + STALE
    assert Watched.reads - {e.cache_key for e in outdated} == set()  # none of WS_A's entries
    assert_index_matches(cache)
    timer.advance(TTL / 2)  # nothing was re-inserted: the TTL still counts from the lookup
    assert current[0].cache_key not in cache.positive


def test_once_checks_fail_the_stale_bound_applies() -> None:
    timer = ManualClock(1000.0)
    cache, _ = make_cache(timer)
    e = entry(1, now=timer())
    assert cache.put(e)
    cache.reconcile({WS_A: 1}, checked_at=timer() + 100)  # confirmed later on
    timer.advance(100 + STALE - 1)
    cache.check_failed()  # requests now test the entry's times
    assert cache.degraded and cache.trusted(e, timer())  # within the stale bound
    timer.advance(1)
    assert not cache.trusted(e, timer())
    cache.reconcile({WS_A: 1}, checked_at=timer())  # a check succeeds again
    assert not cache.degraded and cache.positive[e.cache_key] is e


def test_an_outage_does_not_cut_the_stale_bound_short() -> None:
    """Fetched at 0, confirmed until 290, then Redis goes away: the key serves to 320 (the
    stale bound past its last confirmation), though its cache_ttl (300) ran out at 300."""
    timer = ManualClock(0.0)
    cache, evicted = make_cache(timer)
    e = entry(1, now=timer())
    assert cache.put(e)
    timer.advance(290)
    cache.reconcile({WS_A: 1}, checked_at=timer())
    cache.check_failed()  # the next check failed (at once, here)
    timer.advance(29)  # 319: past the TTL, within the stale bound of the last confirmation
    assert cache.positive[e.cache_key] is e and cache.trusted(e, timer())
    assert cache.put(entry(2, now=timer()))  # an insertion purges nothing on a stopped clock
    assert evicted == []
    timer.advance(1)  # 320
    assert not cache.trusted(e, timer())  # the stale bound still ends it
    cache.reconcile({WS_A: 1}, checked_at=timer())  # Redis is back: the TTL clock runs again
    cache.positive.expire()  # (what each version check starts with)
    assert e.cache_key not in cache.positive and evicted == [e]  # past its cache_ttl
    assert_index_matches(cache)


def test_evicted_entries_hits_fold_into_the_metrics_once() -> None:
    timer = ManualClock(1000.0)
    metrics = GatewayMetrics(CollectorRegistry())
    cache, _ = make_cache(timer, size=2)
    cache.on_evict = metrics.fold
    metrics.watch_cache(cache)
    a, b = entry(1, now=timer()), entry(2, ws=WS_B, now=timer())
    assert cache.put(a) and cache.put(b)
    a.hits, b.hits = 5, 7
    assert metrics.snapshot()[1]["hit"] == 12
    timer.advance(1)
    c = entry(3, now=timer())
    assert cache.put(c)  # size: a (least recently used) leaves
    c.hits = 1
    assert metrics.cache["hit"] == 5 and a.hits == 0
    timer.advance(TTL - 1)
    assert cache.workspace_ids() == [WS_A]  # TTL: b leaves
    assert metrics.cache["hit"] == 12
    assert cache.evict_workspace(WS_A) == 1  # an event: c leaves
    assert metrics.cache["hit"] == 13 and metrics.decisions["allowed", "token"] == 13
    decisions, counts, size = metrics.snapshot()
    assert counts["hit"] == 13 and decisions["allowed", "token"] == 13 and size == 0


def test_clear_reports_every_entry_once() -> None:
    timer = ManualClock(1000.0)
    cache, evicted = make_cache(timer)
    expired = entry(1, now=timer())
    assert cache.put(expired)
    timer.advance(TTL)
    live = entry(2, ws=WS_B, now=timer())
    assert cache.put(live)  # (purges the expired one)
    third = entry(3, now=timer())
    assert cache.put(third)
    timer.advance(TTL)  # both expired, neither purged yet
    assert cache.clear() == 2
    assert sorted(evicted, key=id) == sorted([expired, live, third], key=id)
    assert held(cache) == {} and cache._by_workspace == {}


def test_entries_share_what_keys_have_in_common() -> None:
    rules = frozenset({Rule("billing", "*")})
    a, b = entry(1, kind=KeyKind.PUBLISHABLE), entry(2, kind=KeyKind.PUBLISHABLE)
    sdk = entry(3, kind=KeyKind.SDK)
    assert a.workspace_id is b.workspace_id is a.user.workspace_id  # interned
    assert a.auth is b.auth and a.auth is not sdk.auth and "sdk" in sdk.auth.scopes
    with pytest.raises(TypeError):  # shared by every key of the kind: nobody may change it
        a.auth.scopes = ["authenticated", "sdk"]
    with pytest.raises(TypeError):
        a.auth.scopes.append("sdk")
    assert a.blocked is b.blocked is sdk.blocked_modules and not a.blocked
    assert not a.conditional
    ruled = CachedKey(b"r", KeyPolicy(WS_A, KeyKind.TOKEN, "k", version=1, rules=rules), 0.0)
    assert ruled.blocked == {"billing.*"} and ruled.blocked_modules == {"billing"}
    assert ruled.conditional
