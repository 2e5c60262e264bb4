"""Evictions of a full decision cache: counted, exposed as a metric, logged once a minute."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from gateway.keys.thrash import INTERVAL, ThrashWatch
from gateway.metrics import GatewayMetrics
from tests.gateway.keys.test_eviction import TTL, entry, make_cache
from tests.support.clock import ManualClock


def test_round_robin_over_more_keys_than_the_cache_holds_is_counted_logged_and_exposed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(0.0)
    cache, _ = make_cache(clock, size=10)
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    metrics.watch_cache(cache)
    watch = ThrashWatch(cache, logging.getLogger("test.thrash"))

    def evictions() -> float | None:
        return registry.get_sample_value("keystile_gateway_cache_evictions_full_total")

    for n in range(10):  # exactly full: nothing evicted
        cache.put(entry(n))
    assert evictions() == 0
    assert not watch.check(clock.now)
    for _ in range(3):  # round robin over 15 keys: each put evicts the least recently used
        for n in range(15):
            cache.put(entry(n))
    assert evictions() == 5 + 2 * 15  # 0-9 were held at first: replaced, not evicted
    with caplog.at_level(logging.WARNING, "test.thrash"):
        assert watch.check(clock.now)
        cache.put(entry(99))
        assert not watch.check(clock.now + INTERVAL / 2)  # rate-limited
        assert watch.check(clock.now + INTERVAL)
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["decision cache full"] * 2
    assert "cache_size (now 10)" in caplog.records[0].getMessage()
    # Entries past their TTL and a clear() are not evictions of a full cache.
    before = evictions()
    clock.now += TTL + 1
    for n in range(100, 110):
        cache.put(entry(n, now=clock.now))
    cache.clear()
    assert evictions() == before
