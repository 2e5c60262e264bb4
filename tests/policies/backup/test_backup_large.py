"""A 300,000-entry restore never blocks Redis longer than the gateway's store_timeout:
another client measures its worst PING latency throughout."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import redis

from policies import PolicyStore
from policies.storage import schema
from tests.support.store import big_backup, forget, lookup

STORE_TIMEOUT = 0.5  # the gateway's default store_timeout (README, Configuration)
TOKENS = 100_000  # x3 entries: credential, token metadata, last use


# Another process (not a thread: the restore's Python work would hold the GIL and the
# measure would be ours, not Redis's) pings until told to stop, then prints its worst.
PINGER = """
import select, sys, time, redis
client = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]))
client.ping()
print("ready", flush=True)
worst, count = 0.0, 0
while not select.select([sys.stdin], [], [], 0)[0]:
    started = time.perf_counter()
    client.ping()
    worst = max(worst, time.perf_counter() - started)
    count += 1
print(worst, count, flush=True)
"""


def address_of(client: redis.Redis, key: str) -> tuple[str, int]:
    """The server that holds ``key`` (its cluster node, if any)."""
    if isinstance(client, redis.RedisCluster):
        node = client.get_node_from_key(key)
        return node.host, int(node.port)
    kwargs = client.connection_pool.connection_kwargs
    return kwargs["host"], int(kwargs["port"])


@pytest.mark.slow
def test_a_300000_entry_restore_keeps_ping_under_the_store_timeout(
    store: PolicyStore, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    created, document = big_backup(store, TOKENS)
    ws = created.workspace_id
    entries = sum(len(document[s]) for s in ("keys", "tokens", "lastused", "secrets"))
    assert entries >= 300_000
    forget(redis_client, ws)

    host, port = address_of(redis_client, schema.meta(ws))
    # The server's own account too: every command slower than 1 ms goes to its SLOWLOG.
    server = redis.Redis(host=host, port=port)
    slowlog = server.config_get("slowlog-*")
    server.config_set("slowlog-log-slower-than", 1000)
    server.config_set("slowlog-max-len", 100_000)
    server.slowlog_reset()
    pinger = subprocess.Popen(
        [sys.executable, "-c", PINGER, host, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert pinger.stdout is not None and pinger.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    try:
        restored = store.import_workspace(document, actor="t")
    finally:
        took = time.perf_counter() - started
        out, _ = pinger.communicate("stop\n", timeout=30)
    worst, pings = float(out.split()[0]), int(out.split()[1])
    slow = server.slowlog_get(100_000)
    for name, value in slowlog.items():
        server.config_set(name, value)
    server.close()
    longest = max((entry["duration"] for entry in slow), default=0) / 1e6
    with capsys.disabled():
        print(
            f"\n300k restore: {entries} entries in {took:.1f} s; worst PING "
            f"{worst * 1000:.1f} ms over {pings} pings; {len(slow)} commands over 1 ms, "
            f"the longest {longest * 1000:.1f} ms"
        )
    assert restored.workspace_id == ws
    assert redis_client.hlen(schema.credentials(ws)) == TOKENS + 2
    assert lookup(store, created.publishable_key) is not None
    assert pings > 100
    assert worst < STORE_TIMEOUT
    assert longest < STORE_TIMEOUT
