"""The decision cache's bookkeeping, without Redis: what a version check touches, idle
expiry, the size bound, and what cached entries share."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.cache import DecisionCache
from gateway.entry import CachedKey
from gateway.eviction import _SWEEP_MIN
from policies import Rule
from policies.keyformat import KeyKind
from policies.records import KeyPolicy
from tests.support.clock import ManualClock

TTL = 300.0
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
        stale_bound=30,
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


def test_version_check_only_touches_mismatched_workspaces() -> None:
    timer = ManualClock(1000.0)
    cache, evicted = make_cache(timer)
    current = [entry(n, WS_A, version=7, now=timer()) for n in range(3000)]
    outdated = [entry(n, WS_B, version=3, now=timer()) for n in range(3000, 3010)]
    for e in current + outdated:
        assert cache.put(e)
        e.used = cache.epoch
    Watched.reads.clear()
    dropped = cache.reconcile({WS_A: 7, WS_B: 4}, checked_at=timer())
    assert dropped == 10 and {e.key_id for e in evicted} == {e.key_id for e in outdated}
    assert len(cache) == 3000 and cache.trusted_until == timer() + 30
    touched = Watched.reads - {e.cache_key for e in outdated}
    # Only the idle sweep's slice of the current workspace was looked at, not all of it.
    assert 0 < len(touched) <= _SWEEP_MIN


def test_idle_entries_leave_within_the_ttl_busy_ones_stay() -> None:
    timer = ManualClock(1000.0)
    cache, evicted = make_cache(timer)
    busy, idle, never = entry(1, now=timer()), entry(2, now=timer()), entry(3, now=timer())
    for e in (busy, idle, never):
        assert cache.put(e)
    busy.used = idle.used = cache.epoch
    for _ in range(int(TTL * 2 / 0.5)):  # two TTLs of version checks every 0.5 s
        timer.advance(0.5)
        busy.used = cache.epoch  # a request between two checks
        assert not cache.idle(busy, timer())
        cache.reconcile({WS_A: 1}, checked_at=timer())
    assert set(cache.entries()) == {busy}
    assert set(evicted) == {idle, never}


def test_idle_means_unused_for_the_ttl_never_earlier() -> None:
    timer = ManualClock(1000.0)
    cache, _ = make_cache(timer)
    e = entry(1, now=timer())
    assert cache.put(e)
    assert not cache.idle(e, timer() + TTL - 1)  # never used: counted from its lookup
    assert cache.idle(e, timer() + TTL)
    e.used = cache.epoch
    timer.advance(10)
    cache.next_epoch()  # the epoch of its use ended at 1010
    assert not cache.idle(e, 1000 + TTL + 5)
    assert cache.idle(e, 1010 + TTL)
    cache.degraded = True  # once checks fail, an idle entry is no longer trusted either
    assert cache.get(e.cache_key, 1010 + TTL) is None


def test_beyond_its_size_the_least_recently_used_leaves() -> None:
    timer = ManualClock(1000.0)
    cache, evicted = make_cache(timer, size=3)
    first, second, third = (entry(n, now=timer()) for n in range(3))
    for e in (first, second, third):
        assert cache.put(e)
        e.used = cache.epoch
    cache.next_epoch()
    first.used = cache.epoch  # used again since: no longer the least recently used
    assert cache.put(entry(3, now=timer()))
    assert evicted == [second] and len(cache) == 3
    assert cache.put(entry(4, now=timer()))
    assert evicted == [second, third]


def test_replacing_an_entry_hands_over_the_old_one() -> None:
    timer = ManualClock(1000.0)
    cache, evicted = make_cache(timer)
    old, new = entry(1, now=timer()), entry(1, version=2, now=timer())
    assert cache.put(old) and cache.put(new)
    assert evicted == [old] and cache.entries() == [new]  # its hits and usage are not lost
    assert cache.evict_workspace(WS_A, 3) == 1 and cache.workspace_ids() == []


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
