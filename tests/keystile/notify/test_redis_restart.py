"""The queue is in Redis: it survives a Redis restart (append-only), and the worker, which
waited the outage out, delivers every event afterwards."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from keystile.redis_server import RedisServer
from policies import Keyring, PolicyStore
from policies.storage.connections import sync_client
from tests.keystile.notify.conftest import worker_for
from tests.keystile.notify.test_worker import subscribe
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.single_redis


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", persistent=True)
    server.start()
    yield server
    server.stop()


def test_queued_events_survive_a_redis_restart(
    server: RedisServer, master_key: str, digest_secret: str, receiver: Receiver
) -> None:
    store = PolicyStore(sync_client(server.url), Keyring([master_key], digest_secret))
    ws = store.create_workspace("Acme", actor="test").workspace_id
    subscribe(store, ws, receiver)
    ids = [store.create_token(ws, f"t{i}", actor="test").info.key_id for i in range(3)]
    server.stop()
    server.start()  # same port, same data
    stop = threading.Event()
    thread = threading.Thread(target=worker_for(store).run, args=(stop,), daemon=True)
    thread.start()
    try:
        got = receiver.take(3)
    finally:
        stop.set()
        thread.join(10)
    assert sorted(d.event["data"]["key_id"] for d in got) == sorted(ids)
    assert receiver.forged == 0
