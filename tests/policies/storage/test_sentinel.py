"""The store behind Sentinel: the primary dies, the store follows the failover by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from policies import Catalog, Keyring, PolicyStore, Rule, StoreUnavailable
from policies.storage.connections import sync_client
from tests.support.sentinel import LocalSentinel, local_sentinel
from tests.support.store import lookup

pytestmark = pytest.mark.slow


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[LocalSentinel]:
    with local_sentinel(tmp_path) as setup:
        yield setup


def test_failover(sentinel: LocalSentinel, keyring: Keyring, catalog: Catalog) -> None:
    store = PolicyStore(sync_client(sentinel.url, timeout=1.0), keyring)
    store.save_catalog(catalog)
    created = store.create_workspace("Acme", actor="t")
    store.add_rule(created.workspace_id, Rule("billing", "read"), actor="t")
    store.client.execute_command("WAIT", 1, 5000)  # replicated before the primary dies

    sentinel.kill_primary()
    sentinel.wait_for_failover()
    deadline = time.monotonic() + 30
    while True:  # the client rediscovers the primary on its next connection
        try:
            new_pk = store.rotate_publishable_key(created.workspace_id, actor="t")
            break
        except StoreUnavailable:
            assert time.monotonic() < deadline, "the store never reached the new primary"
    policy = lookup(store, new_pk)
    assert policy is not None and Rule("billing", "read") in policy.rules
    assert lookup(store, created.publishable_key) is None
    assert store.list_rules(created.workspace_id) == [Rule("billing", "read")]
