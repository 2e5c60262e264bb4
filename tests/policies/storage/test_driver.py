"""What a failed Redis call means is decided once (policies/storage/driver.py), on a real server: an
outage is StoreUnavailable (503 and Retry-After upstream); a defect of ours is not."""

from __future__ import annotations

import pytest
import redis
from redis import exceptions

from policies import PolicyStore, StoreUnavailable
from policies.storage.driver import Command, Operation, Script, is_outage, run
from policies.storage.lua import LuaScript
from policies.storage.values import CreatedWorkspace

BROKEN = LuaScript("broken", "return redis.error_reply('ERR our own script is broken')")


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
