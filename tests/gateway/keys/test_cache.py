"""The decision cache: no Redis on a hit, bounded, negative entries, one lookup per key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from cachetools import TTLCache

from gateway import KeyGateMiddleware
from gateway.keys.ttlcache import StoppableClock
from keystile.redis_server import free_port
from policies import AsyncPolicyStore, Keyring, PolicyStore
from policies.keys.keyformat import KeyKind, generate
from policies.storage.connections import async_client
from policies.storage.values import CreatedWorkspace
from tests.support.asgi import call, http_scope
from tests.support.clock import ManualClock
from tests.support.gateway import Factory

pytestmark = pytest.mark.anyio

QUIET = {  # no background Redis traffic while a test counts commands
    "check_interval": 60.0,
    "stale_bound": 60.0,
    "cache_ttl": 600.0,
    "touch_interval": 60.0,
}


# Commands that come on a connection's own schedule, not from a request: health-check
# PINGs, our INFO, and the handshake of a connection (re)opened meanwhile (redis-py 8 sends
# HELLO and several CLIENT commands on connect; a loaded machine stretches a test across
# one, which made the counts below flaky in a full run).
_BACKGROUND = frozenset(
    f"cmdstat_{name}" for name in ("ping", "info", "client|setinfo", "client", "hello", "select")
)


class Commands:
    """Redis's own count of the commands it processed, summed over every node of a cluster
    (minus our counting)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        first = self.total()
        self.own = self.total() - first  # what one INFO adds

    def _sections(self, section: str) -> list[dict[str, Any]]:
        if isinstance(self.client, redis.RedisCluster):
            replies = self.client.info(section, target_nodes=redis.RedisCluster.PRIMARIES)
            return list(replies.values())
        return [self.client.info(section)]

    def total(self) -> int:
        """Every command but :data:`_BACKGROUND`'s."""
        return sum(
            int(stats["calls"])
            for section in self._sections("commandstats")
            for name, stats in section.items()
            if name not in _BACKGROUND
        )

    def calls(self, command: str) -> int:
        stats = self._sections("commandstats")
        return sum(int(s.get(f"cmdstat_{command}", {}).get("calls", 0)) for s in stats)

    def lookups(self) -> int:
        """Key lookups: each is one EVALSHA (then an EVAL if the script was not loaded)."""
        return self.calls("evalsha")


@pytest.fixture
def timer() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
async def quiet(
    make_gate: Factory, store: PolicyStore, timer: ManualClock, workspace: CreatedWorkspace
) -> AsyncIterator[KeyGateMiddleware]:
    """Subscribed after the workspace was written: none of its creation's events can reach
    the gateway mid-test (an event clears the unknown keys and evicts the workspace's)."""
    gate = make_gate(timer=timer, **QUIET)
    await gate.start()
    assert await gate.invalidation.wait_subscribed(10)
    yield gate
    await gate.stop()


def request(key: str, path: str = "/projects") -> dict[str, object]:
    return http_scope(path, headers=[(b"authorization", f"Bearer {key}".encode())])


async def test_cache_hits_send_no_redis_command(
    quiet: KeyGateMiddleware, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    commands = Commands(redis_client)
    assert (await call(quiet, request(workspace.publishable_key))).status == 200  # warm
    before = commands.total()
    for _ in range(200):
        assert (await call(quiet, request(workspace.publishable_key))).status == 200
    assert commands.total() - before == commands.own


async def test_unknown_keys_are_cached_negatively(
    quiet: KeyGateMiddleware,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
    timer: ManualClock,
) -> None:
    commands = Commands(redis_client)
    unknown = generate(KeyKind.PUBLISHABLE, workspace.workspace_id)
    before = commands.lookups()
    for _ in range(50):
        assert (await call(quiet, request(unknown))).status == 401
    assert commands.lookups() - before == 1
    timer.advance(quiet.config.negative_ttl + 0.1)
    assert (await call(quiet, request(unknown))).status == 401
    assert commands.lookups() - before == 2


async def test_malformed_keys_never_reach_redis(
    quiet: KeyGateMiddleware, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    commands = Commands(redis_client)
    good = workspace.sdk_key
    before = commands.total()
    for bad in (good[:-1] + ("x" if good[-1] != "x" else "y"), good[:-1], "sk_" + "é" * 50, "x"):
        answer = await call(quiet, request(bad))
        assert answer.status == 401 and answer.json()["code"] == "invalid_key"
    assert commands.total() - before == commands.own


async def test_concurrent_misses_share_one_lookup(
    quiet: KeyGateMiddleware, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    commands = Commands(redis_client)
    before = commands.lookups()
    answers = await asyncio.gather(*(call(quiet, request(workspace.sdk_key)) for _ in range(25)))
    assert {a.status for a in answers} == {200}
    assert commands.lookups() - before == 1


async def test_cache_is_bounded(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    gate = make_gate(cache_size=3)
    tokens = [store.create_token(workspace.workspace_id, f"t{i}", actor="t") for i in range(6)]
    for token in tokens:
        assert (await call(gate, request(token.token))).status == 200
    assert len(gate.cache) == 3
    assert {e.key_id for e in gate.cache.entries()} == {t.info.key_id for t in tokens[-3:]}
    await gate.stop()


async def test_keys_are_looked_up_again_cache_ttl_after_their_lookup(
    quiet: KeyGateMiddleware,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
    timer: ManualClock,
) -> None:
    """cache_ttl is TTLCache's: counted from the lookup; use and version checks do not
    extend it, and idle keys leave the cache at the first check after it."""
    commands = Commands(redis_client)
    busy, idle = workspace.sdk_key, workspace.publishable_key
    for key in (busy, idle):
        assert (await call(quiet, request(key))).status == 200
    reader = quiet.runtime.reader
    assert reader is not None
    before = commands.lookups()
    for _ in range(9):  # up to 0.9 TTL: the busy key is used and confirmed each time
        timer.advance(quiet.config.cache_ttl * 0.1)
        assert (await call(quiet, request(busy))).status == 200
        assert await quiet.invalidation.check(reader)  # what the ticker does
    assert commands.lookups() == before and len(quiet.cache) == 2
    timer.advance(quiet.config.cache_ttl * 0.1)
    assert await quiet.invalidation.check(reader)
    assert len(quiet.cache) == 0  # both expired, purged by the check
    assert (await call(quiet, request(busy))).status == 200
    assert commands.lookups() == before + 1  # looked up again, cached for another TTL
    assert (await call(quiet, request(busy))).status == 200
    assert commands.lookups() == before + 1


async def test_unconfirmed_entries_go_stale_once_checks_fail(
    quiet: KeyGateMiddleware,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
    keyring: Keyring,
    timer: ManualClock,
) -> None:
    """While checks succeed no clock is read; after a failed one, stale_bound applies."""
    commands = Commands(redis_client)
    assert (await call(quiet, request(workspace.sdk_key))).status == 200
    timer.advance(quiet.config.stale_bound * 5)  # (within cache_ttl: 10 stale bounds)
    before = commands.lookups()
    assert (await call(quiet, request(workspace.sdk_key))).status == 200
    assert commands.lookups() == before  # confirmed by the (healthy) checks: no clock
    unreachable = AsyncPolicyStore(async_client(f"redis://127.0.0.1:{free_port()}/0"), keyring)
    assert not await quiet.invalidation.check(unreachable)  # a failed version check
    assert quiet.cache.degraded
    assert (await call(quiet, request(workspace.sdk_key))).status == 200  # looked up again
    assert commands.lookups() == before + 1
    timer.advance(quiet.config.stale_bound - 1)
    assert (await call(quiet, request(workspace.sdk_key))).status == 200  # fresh enough
    assert commands.lookups() == before + 1
    reader = quiet.runtime.reader
    assert reader is not None and await quiet.invalidation.check(reader)
    assert not quiet.cache.degraded


async def test_cache_never_holds_the_raw_key(
    gate: KeyGateMiddleware, workspace: CreatedWorkspace
) -> None:
    assert (await call(gate, request(workspace.sdk_key))).status == 200
    dumped = repr(gate.cache.positive) + repr(vars(gate.cache)) + repr(gate.cache.entries())
    assert workspace.sdk_key[3:].encode() not in gate.cache.positive
    assert workspace.sdk_key[3:] not in dumped


def test_the_ttl_clock_stands_still_through_public_api_only() -> None:
    """The TTLCache gets the clock as its public ``timer``; stopping it defers expiry, and
    running again catches up at once (no cachetools internals involved)."""
    now = [0.0]
    clock = StoppableClock(lambda: now[0])
    cache: TTLCache[str, int, float] = TTLCache(10, 5, timer=clock)
    cache["k"] = 1
    clock.stop()
    now[0] = 60.0
    assert cache["k"] == 1  # past its TTL, but the clock stood still at 0
    clock.stop()  # stopping twice keeps the first stop
    assert clock() == 0.0
    clock.run()
    assert "k" not in cache  # 60 s later: expired as soon as the clock runs
