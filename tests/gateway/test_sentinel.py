"""The gateway and the admin behind Sentinel: the primary is SIGKILLed under load, both
follow the failover by themselves, and the gateway re-reads what it had cached.

Runs its own primary, replica and Sentinel, whatever ``--redis`` says (``single_redis``:
the cluster pass would only repeat it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry

from admin_plugin import AdminIdentity, SmtpConfig, SmtpMailer
from gateway import KeyGateMiddleware
from keystile.redis_server import free_port
from policies import Catalog, PolicyStore, Settings
from policies.storage.connections import sync_client
from tests.support.admin import Api, Who, make_host_app
from tests.support.apps import starlette_app
from tests.support.asgi import call, http_scope
from tests.support.sentinel import LocalSentinel, local_sentinel

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.single_redis]
LOG = logging.getLogger(__name__)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[LocalSentinel]:
    with local_sentinel(tmp_path) as setup:
        yield setup


def lookups_on(port: int) -> int:
    """EVALSHA calls a server has run (a replica runs none: scripts replicate as effects)."""
    client = redis.Redis(port=port, decode_responses=True)
    try:
        return int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    finally:
        client.close()


async def status(gate: KeyGateMiddleware, key: str) -> int:
    scope = http_scope("/projects", "GET", [(b"authorization", f"Bearer {key}".encode())])
    return (await call(gate, scope)).status


async def test_gateway_and_admin_follow_a_failover(
    sentinel: LocalSentinel, master_key: str, digest_secret: str, app_catalog: Catalog
) -> None:
    settings = Settings(sentinel.url, (master_key,), digest_secret)
    store = PolicyStore(sync_client(sentinel.url, timeout=1.0), settings.keyring())
    store.save_catalog(app_catalog)
    created = store.create_workspace("Acme", actor="test")
    ws = created.workspace_id
    store.client.execute_command("WAIT", 1, 5000)  # replicated before the primary dies
    # The admin app is built on the same store, before the failover.
    alice = AdminIdentity("alice", "alice@acme.test", (ws,), name="Alice")
    mailer = SmtpMailer(SmtpConfig(sender="k@acme.test", host="127.0.0.1", port=free_port()))
    admin = Api(make_host_app(store, Who(alice), mailer).test_client(), ws)
    assert admin.page().status_code == 200

    gate = KeyGateMiddleware(
        starlette_app(),
        settings=settings,
        registry=CollectorRegistry(),
        check_interval=0.2,
        reconnect_max=0.3,
    )
    await gate.start()
    seen: Counter[int] = Counter()
    stop = asyncio.Event()

    async def load() -> None:  # steady traffic with keys the gateway has cached
        while not stop.is_set():
            for key in (created.sdk_key, created.publishable_key):
                seen[await status(gate, key)] += 1
            await asyncio.sleep(0.01)

    loader = asyncio.create_task(load())
    try:
        assert await gate.invalidation.wait_subscribed(10)
        assert await gate.invalidation.wait_until(lambda: seen[200] >= 20, 10)
        subscriptions = gate.invalidation.subscriptions
        new_port = sentinel.replica.port
        assert lookups_on(new_port) == 0  # a replica so far: no lookup has reached it

        killed = time.monotonic()
        sentinel.kill_primary()
        await asyncio.to_thread(sentinel.wait_for_failover)
        assert sentinel.current_primary_port() == new_port
        # The listener finds the new primary by itself; its subscription clears the cache.
        assert await gate.invalidation.wait_until(
            lambda: (
                gate.invalidation.subscribed and gate.invalidation.subscriptions > subscriptions
            ),
            30,
        )
        assert gate.metrics.invalidations.labels("resubscribe")._value.get() >= 1
        followed = time.monotonic() - killed
        after = seen[200]
        assert await gate.invalidation.wait_until(lambda: seen[200] >= after + 20, 30)
        stop.set()
        await loader
        # Cached keys were looked up again, on the new primary (a hit costs no lookup).
        assert lookups_on(new_port) >= 1
        assert set(seen) <= {200, 503}, seen  # never a 500, even mid-failover
        LOG.info(
            "answers %s; resubscribed on the new primary %.2f s after the kill", seen, followed
        )

        # The admin follows too (its client asks the Sentinel again): a rule saved through
        # the Tokens page after the failover reaches the new primary, and the gateway
        # enforces it.
        pages = [admin.page().status_code]
        while pages[-1] != 200 and len(pages) < 100:  # bounded: a dead pooled connection or two
            pages.append(admin.page().status_code)
        assert pages[-1] == 200 and set(pages) <= {200, 503}, pages
        LOG.info("admin page after the failover: %s", pages)
        saved = admin.post("api/rules", {"module": "projects", "functionality": "list"})
        assert saved.status_code == 201, saved.get_data(as_text=True)
        version = store.workspace(ws).version
        assert await gate.invalidation.wait_version(ws, version, 10)
        assert await status(gate, created.publishable_key) == 403
        assert await status(gate, created.sdk_key) == 200
    finally:
        stop.set()
        await loader
        await gate.stop()
        store.client.close()
