"""The store on a real 3-master Redis Cluster: hash tags keep every Lua step in one slot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from policies import AsyncPolicyStore, Catalog, Keyring, PolicyStore, Rule
from policies.storage.connections import async_client, sync_client
from tests.support.cluster import LocalCluster
from tests.support.store import lookup, rotate_concurrently


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cluster = LocalCluster(Path(tmp_path_factory.mktemp("cluster")))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def cluster_store(cluster_url: str, keyring: Keyring, catalog: Catalog) -> Iterator[PolicyStore]:
    client = sync_client(cluster_url)
    store = PolicyStore(client, keyring)
    store.save_catalog(catalog)
    yield store
    client.close()


def test_workspaces_spread_over_masters(cluster_store: PolicyStore) -> None:
    created = [cluster_store.create_workspace(f"w{i}", actor="t") for i in range(12)]
    slots = {redis.cluster.key_slot(f"ks:{{{c.workspace_id}}}:meta".encode()) for c in created}
    assert len(slots) > 1
    for c in created:
        cluster_store.add_rule(c.workspace_id, Rule("billing", "read"), actor="t")
        policy = lookup(cluster_store, c.publishable_key)
        assert policy is not None and Rule("billing", "read") in policy.rules
    listed = {w.workspace_id for w in cluster_store.list_workspaces()}
    assert {c.workspace_id for c in created} <= listed


def test_concurrent_rotations_on_the_cluster(cluster_store: PolicyStore, cluster_url: str) -> None:
    created = cluster_store.create_workspace("Acme", actor="t")
    issued = rotate_concurrently(cluster_store, cluster_url, created.workspace_id)
    valid = [k for k in [created.publishable_key, *issued] if lookup(cluster_store, k)]
    assert valid == [cluster_store.publishable_key(created.workspace_id)]


@pytest.mark.anyio
async def test_async_reader_on_the_cluster(cluster_store: PolicyStore, cluster_url: str) -> None:
    created = cluster_store.create_workspace("Acme", actor="t")
    reader = AsyncPolicyStore(async_client(cluster_url), cluster_store.ctx.keyring)
    try:
        policy = await reader.lookup(created.sdk_key)
        assert policy.workspace_id == created.workspace_id
        assert (await reader.versions([created.workspace_id]))[created.workspace_id] == 1
    finally:
        await reader.client.aclose()
