"""The gateway's start-up log when its Redis is not there: which one, and what to do."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from gateway import KeyGateMiddleware
from keystile import sample_api
from keystile.redis_server import free_port
from policies import Catalog, Settings
from tests.support.asgi import call, http_scope, lifespan

pytestmark = pytest.mark.anyio


async def test_start_up_names_the_redis_it_tried_and_the_ways_out(
    caplog: pytest.LogCaptureFixture, master_key: str, digest_secret: str, catalog: Catalog
) -> None:
    port = free_port()  # nothing listens there
    url = f"redis://:hunter2@127.0.0.1:{port}/0"
    gate = KeyGateMiddleware(
        sample_api.app,
        settings=Settings(url, (master_key,), digest_secret),
        catalog=catalog,
        registry=CollectorRegistry(),
        start_timeout=0.5,
    )
    with caplog.at_level(logging.WARNING, logger="keystile.gateway"):
        async with lifespan(gate):
            assert (await call(gate, http_scope())).status == 401  # no key: no Redis needed
    said = [r.getMessage() for r in caplog.records if r.name.startswith("keystile.gateway")]
    start = [m for m in said if m.startswith("Redis is unavailable at")]
    assert len(start) == 1, said
    assert f"redis://:***@127.0.0.1:{port}/0" in start[0]
    assert "start Redis at that URL" in start[0]
    assert "keystile --embedded serve" in start[0]
    assert not any("hunter2" in m for m in said)
