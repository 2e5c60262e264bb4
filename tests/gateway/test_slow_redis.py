"""A Redis too slow to answer: requests fail fast with 503 after ``store_timeout`` instead
of piling up, cached keys keep serving, and the gateway recovers when Redis does.

``DEBUG SLEEP`` stops a server of the test's own, whatever ``--redis`` says
(``single_redis``: the cluster pass would only repeat it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry

from gateway import KeyGateMiddleware
from keystile.redis_server import RedisServer
from policies import Catalog, PolicyStore, Settings
from policies.keys.keyformat import KeyKind, generate
from policies.storage.connections import sync_client
from tests.support.apps import starlette_app
from tests.support.asgi import Answer, call, http_scope

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.single_redis]
LOG = logging.getLogger(__name__)


async def test_slow_redis_fails_fast(
    tmp_path: Path, master_key: str, digest_secret: str, app_catalog: Catalog
) -> None:
    timeout = 0.3
    with RedisServer(tmp_path / "slow", persistent=False) as server:
        settings = Settings(server.url, (master_key,), digest_secret)
        client = sync_client(server.url)
        store = PolicyStore(client, settings.keyring())
        store.save_catalog(app_catalog)
        created = store.create_workspace("Acme", actor="test")
        gate = KeyGateMiddleware(
            starlette_app(), settings=settings, registry=CollectorRegistry(), store_timeout=timeout
        )
        await gate.start()
        try:
            assert await gate.invalidation.wait_subscribed(10)
            assert (await get(gate, created.sdk_key)).status == 200  # cached

            with busy(server, seconds=4):
                started = time.monotonic()
                unknown = [generate(KeyKind.SDK, created.workspace_id) for _ in range(30)]
                answers = await asyncio.gather(*(get(gate, key) for key in unknown))
                elapsed = time.monotonic() - started
                # All 30 refused with a 503 after about store_timeout, together: nothing
                # waited for the 4 s the server is busy.
                assert [a.status for a in answers] == [503] * 30
                assert {a.json()["code"] for a in answers} == {"store_unavailable"}
                assert elapsed < timeout + 1.5, elapsed
                LOG.info("30 lookups on a sleeping Redis: all 503 within %.2f s", elapsed)
                cached = await get(gate, created.sdk_key)  # a cache hit needs no Redis
                assert cached.status == 200
                fresh = await get(gate, created.publishable_key)
                assert fresh.status == 503
            # The server answers again: so does the gateway, with no restart.
            assert (await get(gate, created.publishable_key)).status == 200
            errors = gate.metrics.store_errors.labels("lookup")._value.get()
            assert errors >= 31
        finally:
            await gate.stop()
            client.close()


async def get(gate: KeyGateMiddleware, key: str) -> Answer:
    header = f"Bearer {key}".encode()
    return await call(gate, http_scope("/projects", "GET", [(b"authorization", header)]))


@contextlib.contextmanager
def busy(server: RedisServer, seconds: int) -> Iterator[None]:
    """Redis stuck in ``DEBUG SLEEP`` (it answers nobody) for ``seconds``.

    The command goes out on a raw socket, so sending it does not wait for its reply; a
    probe with a short timeout then confirms the server is really busy. On exit, waits
    (bounded) for the server to answer again.
    """
    sleeper = socket.create_connection(("127.0.0.1", server.port))
    sleeper.sendall(f"DEBUG SLEEP {seconds}\r\n".encode())
    probe = redis.Redis(port=server.port, socket_timeout=0.1, retry=None)
    try:
        deadline = time.monotonic() + 2
        while True:  # the sleep has no event to await: the probe's timeout is the signal
            try:
                probe.ping()
            except redis.TimeoutError:
                break
            assert time.monotonic() < deadline, "Redis never went to sleep"
        yield
        sleeper.settimeout(seconds + 10)
        assert sleeper.recv(16).startswith(b"+OK")  # the reply comes when the sleep ends
    finally:
        sleeper.close()
        probe.close()
