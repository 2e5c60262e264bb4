"""What a failed Redis call means is decided once (policies/storage/driver.py), on a real server: an
outage is StoreUnavailable (503 and Retry-After upstream); a defect of ours is not."""

from __future__ import annotations

import asyncio

import pytest
import redis
from redis import exceptions

from policies import PolicyStore, StoreUnavailable
from policies.storage.connections import async_client
from policies.storage.driver import (
    Batch,
    Command,
    Operation,
    Script,
    is_outage,
    run,
    run_async,
)
from policies.storage.lua import LuaScript
from policies.storage.values import CreatedWorkspace

BROKEN = LuaScript("broken", "return redis.error_reply('ERR our own script is broken')")
# A script no server has seen yet (its text is unique to this module): EVALSHA misses.
COUNT = LuaScript("count_once", "-- test_driver\nreturn redis.call('INCR', KEYS[1])", ("key",))


def one(call: Command | Script) -> Operation[object]:
    reply = yield call
    return reply


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (exceptions.ConnectionError("refused"), True),
        (exceptions.TimeoutError("slow"), True),
        (exceptions.BusyLoadingError("loading"), True),
        (exceptions.ReadOnlyError("read only replica"), True),
        (exceptions.ClusterDownError("the cluster is down"), True),
        (exceptions.TryAgainError("try again"), True),
        (exceptions.OutOfMemoryError("used memory > maxmemory"), True),
        (exceptions.ResponseError("NOAUTH Authentication required."), True),
        (exceptions.ResponseError("ERR user_script:1: Script attempted to access"), False),
        (exceptions.ResponseError("WRONGTYPE Operation against a key"), False),
        (exceptions.ResponseError("ERR syntax error"), False),
    ],
)
def test_outages_and_defects_are_told_apart(error: Exception, outage: bool) -> None:
    assert is_outage(error) is outage


def test_our_own_script_error_is_not_an_outage(redis_client: redis.Redis) -> None:
    with pytest.raises(exceptions.ResponseError, match="our own script is broken") as caught:
        run(redis_client, one(Script(BROKEN, ("ks:{x}:k",), ())))
    assert not isinstance(caught.value, StoreUnavailable)


def test_a_wrong_type_in_the_store_is_a_defect_not_an_outage(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    redis_client.delete(f"ks:{{{ws}}}:rules")
    redis_client.set(f"ks:{{{ws}}}:rules", "not a set")  # damaged by hand
    with pytest.raises(exceptions.ResponseError, match="WRONGTYPE"):
        store.list_rules(ws)


def test_an_unreachable_server_is_an_outage() -> None:
    client = redis.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens on port 1
    with pytest.raises(StoreUnavailable):
        run(client, one(Command(("PING",))))
    client.close()


def batch_with_a_new_script(key: str, pushed: str) -> Operation[object]:
    reply = yield Batch(
        (Command(("RPUSH", pushed, "x")), COUNT.call((key,)), Command(("GET", key)))
    )
    return reply


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_a_batch_sends_again_only_the_script_the_server_lacked(
    redis_client: redis.Redis, redis_url: str, driver: str
) -> None:
    """The batch's other calls ran once: a list push is not pushed twice (a leak report's
    record was, when the whole batch was sent again)."""
    key, pushed = "ks:{driver}:count", "ks:{driver}:pushed"
    redis_client.delete(key, pushed)
    redis_client.script_flush()
    if driver == "sync":
        replies = run(redis_client, batch_with_a_new_script(key, pushed))
    else:

        async def go() -> object:
            client = async_client(redis_url, timeout=5)
            try:
                return await run_async(client, batch_with_a_new_script(key, pushed))
            finally:
                await client.aclose()

        replies = asyncio.run(go())
    assert replies[:2] == [1, 1]
    assert redis_client.llen(pushed) == 1 and redis_client.get(key) == "1"
