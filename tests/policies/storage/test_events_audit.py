"""Every write: one version bump, one event, one audit entry; nothing in plain text."""

from collections.abc import Callable
from typing import Any

import redis

from policies import PolicyStore, Rule
from policies.operations import lookup as store_lookup
from policies.storage import schema
from policies.storage.events import EVENTS_CHANNEL, Event, parse_event


def publishers(client: redis.Redis) -> list[redis.Redis]:
    """A connection to every node a write may publish from (every primary of a cluster)."""
    if isinstance(client, redis.RedisCluster):
        return [
            redis.Redis(host=node.host, port=node.port, decode_responses=True)
            for node in client.get_primaries()
        ]
    return [client]


def events_during(client: redis.Redis, action: Callable[[], object]) -> list[Event | None]:
    pubsub = client.pubsub()
    pubsub.subscribe(EVENTS_CHANNEL)
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]
    action()
    # Markers: everything published before them has arrived. On a cluster, each node's
    # messages reach the subscriber in order, but not in order with other nodes': one
    # marker from every node.
    nodes = publishers(client)
    ends = {f"end {n}" for n in range(len(nodes))}
    for n, node in enumerate(nodes):
        node.publish(EVENTS_CHANNEL, f"end {n}")
    received = []
    while ends:
        message = pubsub.get_message(timeout=5)
        assert message is not None
        if message["data"] in ends:
            ends.discard(message["data"])
        elif message["type"] == "message":
            received.append(parse_event(message["data"]))
    pubsub.close()
    for node in nodes:
        if node is not client:
            node.close()
    return received


def test_one_event_per_write(store: PolicyStore, redis_client: redis.Redis) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    writes: list[Callable[[], object]] = [
        lambda: store.rotate_publishable_key(ws, actor="t"),
        lambda: store.roll_sdk_key(ws, actor="t", grace_seconds=5),
        lambda: store.add_rule(ws, Rule("billing", "read"), actor="t"),
        lambda: store.remove_rule(ws, Rule("billing", "read"), actor="t"),
        lambda: store.create_token(ws, "t", actor="t"),
        lambda: store.secrets.put(ws, "S", "v", actor="t"),
        lambda: store.set_origins(ws, ["https://a.example"], actor="t"),
    ]
    for version, write in enumerate(writes, start=2):
        assert events_during(redis_client, write) == [Event(ws, version)]
    # A no-op write publishes nothing.
    assert (
        events_during(
            redis_client, lambda: store.remove_rule(ws, Rule("billing", "read"), actor="t")
        )
        == []
    )
    actions = [e.action for e in reversed(store.audit_tail(ws, 50))]
    assert actions == [
        "workspace.created",
        "publishable_key.rotated",
        "sdk_key.rolled",
        "rule.added",
        "rule.removed",
        "token.created",
        "secret.set",
        "origins.set",
    ]


def test_catalog_save_publishes(store: PolicyStore, redis_client: redis.Redis) -> None:
    catalog = store.load_catalog()
    assert catalog is not None
    [event] = events_during(redis_client, lambda: store.save_catalog(catalog))
    assert event == Event(None, catalog_fingerprint=catalog.fingerprint())


def test_lookup_is_one_round_trip(store: PolicyStore, redis_client: redis.Redis) -> None:
    created = store.create_workspace("Acme", actor="t")
    operation = store_lookup.lookup(store.ctx, created.publishable_key)
    call = next(operation)  # the operation yields exactly one call, then finishes
    reply = store.client.execute_command(
        "EVAL",
        call.script.text,
        len(call.keys),  # type: ignore[union-attr]
        *call.keys,
        *call.args,
    )  # type: ignore[union-attr]
    try:
        operation.send(reply)
        raise AssertionError("lookup asked for a second round trip")
    except StopIteration as done:
        assert done.value.workspace_id == created.workspace_id
    # And on the server: one command per lookup once the script is cached.
    store.run(store_lookup.lookup(store.ctx, created.publishable_key))
    # On a cluster, the statistics of the node holding the workspace.
    node: dict[str, Any] = {}
    if isinstance(redis_client, redis.RedisCluster):
        node["target_nodes"] = redis_client.get_node_from_key(schema.meta(created.workspace_id))
    redis_client.config_resetstat(**node)
    for _ in range(10):
        store.run(store_lookup.lookup(store.ctx, created.publishable_key))
    stats = redis_client.info("commandstats", **node)
    # commandstats also counts the commands run inside the script; those are not round trips.
    inside_script = {"cmdstat_hget", "cmdstat_hmget", "cmdstat_smembers"}
    counted = {
        k: v["calls"]
        for k, v in stats.items()
        if k not in inside_script | {"cmdstat_info", "cmdstat_config"}
    }
    assert counted == {"cmdstat_evalsha": 10}


def test_nothing_is_stored_in_plain_text(store: PolicyStore, redis_client: redis.Redis) -> None:
    created = store.create_workspace("Acme", actor="t")
    token = store.create_token(created.workspace_id, "t", actor="t").token
    store.secrets.put(created.workspace_id, "S", "super-secret-value", actor="t")
    store.reveal_sdk_key(created.workspace_id, actor="t")
    dump = []
    for key in redis_client.scan_iter("*"):
        kind = redis_client.type(key)
        if kind == "hash":
            dump.append(str(redis_client.hgetall(key)))
        elif kind == "set":
            dump.append(str(redis_client.smembers(key)))
        elif kind == "stream":
            dump.append(str(redis_client.xrange(key)))
        elif kind == "zset":
            dump.append(str(redis_client.zrange(key, 0, -1, withscores=True)))
        else:
            dump.append(str(redis_client.get(key)))
    everything = "\n".join(dump)
    for secret in (created.publishable_key, created.sdk_key, token, "super-secret-value"):
        assert secret not in everything
        assert secret[3:] not in everything
