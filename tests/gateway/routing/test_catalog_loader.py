"""A catalog change on a started gateway: parsed off the event loop, no collection pass
while it builds, no route compiled until a request needs it, few objects left for the
collector. (How long the loop stalls is bench case 12's figure, not a timed test.)"""

from __future__ import annotations

import gc
import logging
import threading

import pytest
from prometheus_client import CollectorRegistry

from bench.catalog_scale import catalog_data
from gateway.config import GatewayConfig
from gateway.metrics import GatewayMetrics
from gateway.routing.catalog_loader import CatalogLoader
from gateway.routing.router import Router
from policies import Catalog, PolicyStore
from policies.storage.async_store import AsyncPolicyStore
from policies.storage.connections import async_client

ROUTES = 2_000


def loader_of() -> CatalogLoader:
    return CatalogLoader(
        GatewayConfig(), GatewayMetrics(CollectorRegistry()), logging.getLogger("test"), None
    )


def compiled(router: Router) -> int:
    return sum(route is not None for route in router._index._compiled)


@pytest.mark.anyio
async def test_a_change_is_built_off_the_loop_with_the_older_heap_frozen(
    store: PolicyStore, redis_url: str
) -> None:
    store.save_catalog(Catalog.from_dict(catalog_data(ROUTES)), force=True)
    loader = loader_of()
    seen: list[tuple[int, bool]] = []
    loader.check = lambda catalog: seen.append((threading.get_ident(), gc.isenabled()))
    loader.reader = AsyncPolicyStore(async_client(redis_url), store.ctx.keyring)
    try:
        await loader.reload()
    finally:
        await loader.reader.client.aclose()
    [(thread, collecting)] = seen
    assert thread != threading.get_ident()  # a worker thread, not the loop's
    assert not collecting  # no collection in the middle of the build
    assert gc.get_freeze_count() == 0 and gc.isenabled()  # the collector given back
    assert loader.router is not None and len(loader.router.action_names) == ROUTES
    assert compiled(loader.router) == 0  # each route compiled when a request needs it
    assert loader.router.match("GET", "/r5/7") is not None
    assert compiled(loader.router) == 1


def test_a_build_runs_no_collection_pass() -> None:
    """Each pass holds the GIL, whichever thread runs it: it stalls the event loop."""
    text = Catalog.from_dict(catalog_data(ROUTES)).to_json()
    passes: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes.append(info["generation"])

    gc.callbacks.append(note)
    try:
        loader_of()._build(text)
    finally:
        gc.callbacks.remove(note)
    assert passes == []
    assert gc.get_count()[0] < 700  # nor one owed at the next allocation


def test_a_process_that_froze_its_heap_or_stopped_the_collector_keeps_it_so() -> None:
    loader = loader_of()
    text = Catalog.from_dict(catalog_data(50)).to_json()
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        loader._build(text)
        assert gc.get_freeze_count() >= before and gc.isenabled()
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        loader._build(text)
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_a_built_catalog_leaves_few_objects_for_the_collector() -> None:
    """Per route: its entry and its functionality; actions wait for a request, methods and
    one-route buckets are shared or plain (a collection's length grows with this)."""
    text = Catalog.from_dict(catalog_data(ROUTES)).to_json()
    gc.collect()
    before = len(gc.get_objects())
    built = loader_of()._build(text)
    gc.collect()
    kept = len(gc.get_objects()) - before
    assert built[1] is not None and built[2] == built[0].fingerprint()  # type: ignore[union-attr]
    assert kept < 2.2 * ROUTES, kept
