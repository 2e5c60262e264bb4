"""On a Redis Cluster, the node the gateway listens on dies: the listener moves to another
node by itself, and events published anywhere in the cluster reach it again.

Starts a 3-master cluster of its own (a node is SIGKILLed), whatever ``--redis`` says
(``single_redis``: the cluster pass would only repeat it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry

from gateway import KeyGateMiddleware
from policies import Catalog, PolicyStore, Settings
from policies.storage import schema
from policies.storage.connections import sync_client
from tests.support.apps import starlette_app
from tests.support.asgi import call, http_scope
from tests.support.cluster import LocalCluster

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.single_redis]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def listeners(port: int) -> int:
    client = redis.Redis(port=port)
    try:
        return len(client.client_list(_type="pubsub"))
    finally:
        client.close()


async def test_listener_moves_to_another_node(
    cluster: LocalCluster, master_key: str, digest_secret: str, app_catalog: Catalog
) -> None:
    settings = Settings(cluster.url, (master_key,), digest_secret)
    client = sync_client(cluster.url)
    store = PolicyStore(client, settings.keyring())
    store.save_catalog(app_catalog)
    created = store.create_workspace("Acme", actor="test")
    ws = created.workspace_id
    client.close()
    quiet = {"check_interval": 60.0, "stale_bound": 60.0, "cache_ttl": 600.0}  # events only
    gate = KeyGateMiddleware(
        starlette_app(), settings=settings, registry=CollectorRegistry(), **quiet
    )
    await gate.start()
    try:
        assert await gate.invalidation.wait_subscribed(10)
        scope = http_scope("/projects", "GET", [(b"x-api-key", created.sdk_key.encode())])
        assert (await call(gate, scope)).status == 200
        ports = [server.port for server in cluster.servers]
        (dead,) = [i for i, port in enumerate(ports) if listeners(port)]  # exactly one node
        others = [port for i, port in enumerate(ports) if i != dead]
        # A PUBLISH on another node reaches it: the cluster broadcasts it.
        redis.Redis(port=others[0]).publish(schema.EVENTS_CHANNEL, f"{ws} 100")
        assert await gate.invalidation.wait_version(ws, 100, 10)

        cluster.servers[dead].kill()
        assert await gate.invalidation.wait_until(
            lambda: gate.invalidation.subscribed and gate.invalidation.subscriptions >= 2, 15
        )
        assert sum(listeners(port) for port in others) == 1  # it moved to a living node
        for n, port in enumerate(others):  # and hears events published on either of them
            redis.Redis(port=port).publish(schema.EVENTS_CHANNEL, f"{ws} {200 + n}")
            assert await gate.invalidation.wait_version(ws, 200 + n, 10)
    finally:
        await gate.stop()
