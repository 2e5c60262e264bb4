"""Prometheus metrics of the gateway (prometheus-client), on a registry of your choice.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.refusals.problems import PROBLEMS
from policies.errors import StoreUnavailable

if TYPE_CHECKING:
    from gateway.keys.cache import DecisionCache
    from gateway.keys.cached_key import CachedKey

OUTCOMES = ("allowed", "exempt", *PROBLEMS)
KINDS = ("sdk", "publishable", "token", "none")
CACHE_RESULTS = ("hit", "miss", "negative_hit")

_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, GatewayMetrics] = (
    weakref.WeakKeyDictionary()
)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        # decisions[(outcome, kind)]: a dict of ints, incremented in place on the hot path.
        self.decisions: dict[tuple[str, str], int] = {(o, k): 0 for o in OUTCOMES for k in KINDS}
        self.cache: dict[str, int] = dict.fromkeys(CACHE_RESULTS, 0)
        self._caches: weakref.WeakSet[DecisionCache] = weakref.WeakSet()
        # Scrapes may come from another thread: folding and reading hold this lock so a
        # scrape never sees an evicted entry's hits twice or not at all.
        self._lock = threading.Lock()
        self.store_seconds = Histogram(
            "keystile_gateway_store_seconds",
            "Time spent waiting on Redis, by operation.",
            ["operation"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self.store_errors = Counter(
            "keystile_gateway_store_errors",
            "Redis operations that failed (unreachable or refused), by operation.",
            ["operation"],
            registry=registry,
        )
        self.internal_errors = Counter(
            "keystile_gateway_internal_errors",
            "Defects met while deciding (logged with their traceback), by operation.",
            ["operation"],
            registry=registry,
        )
        self.invalidations = Counter(
            "keystile_gateway_invalidations",
            "Invalidations applied, by source.",
            ["source"],
            registry=registry,
        )
        self.subscribed = Gauge(
            "keystile_gateway_subscribed",
            "Gateways currently subscribed to the invalidation channel.",
            registry=registry,
        )
        registry.register(_HotCollector(self))

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None = None) -> GatewayMetrics:
        registry = REGISTRY if registry is None else registry
        metrics = _BY_REGISTRY.get(registry)
        if metrics is None:
            metrics = _BY_REGISTRY[registry] = cls(registry)
        return metrics

    @contextlib.contextmanager
    def store_call(self, operation: str) -> Iterator[None]:
        """Time one Redis operation (prometheus-client's ``Histogram.time``) and count it
        as an error if Redis could not be reached."""
        with self.store_seconds.labels(operation).time():
            try:
                yield
            except StoreUnavailable:
                self.store_errors.labels(operation).inc()
                raise

    def watch_cache(self, cache: DecisionCache) -> None:
        self._caches.add(cache)

    def fold(self, entry: CachedKey) -> None:
        """An entry leaves its cache: its hits move into the totals."""
        with self._lock:
            hits, entry.hits = entry.hits, 0
            if hits:
                self.decisions[entry.allowed] += hits
                self.cache["hit"] += hits

    def snapshot(self) -> tuple[dict[tuple[str, str], int], dict[str, int], int]:
        """Totals including live entries' hits: (decisions, cache results, entries); cache
        results include ``evicted_full``."""
        with self._lock:
            decisions = dict(self.decisions)
            cache = dict(self.cache)
            size = 0
            cache["evicted_full"] = 0
            for watched in list(self._caches):
                cache["evicted_full"] += watched.positive.evicted_full
                entries = watched.entries()
                size += len(entries)
                for entry in entries:
                    decisions[entry.allowed] += entry.hits
                    cache["hit"] += entry.hits
        return decisions, cache, size


class _HotCollector(Collector):
    """Exposes the plain-integer counters at scrape time."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = weakref.proxy(metrics)

    def collect(self) -> Iterator[Metric]:
        decision_counts, cache_counts, size = self._metrics.snapshot()
        decisions = CounterMetricFamily(
            "keystile_gateway_decisions",
            "Requests decided by the gateway, by outcome and key kind.",
            labels=["outcome", "kind"],
        )
        for (outcome, kind), value in decision_counts.items():
            decisions.add_metric([outcome, kind], value)
        yield decisions
        cache = CounterMetricFamily(
            "keystile_gateway_cache",
            "Decision cache probes: hit, miss (looked up in Redis) or negative_hit.",
            labels=["result"],
        )
        evicted_full = cache_counts.pop("evicted_full")
        for result, value in cache_counts.items():
            cache.add_metric([result], value)
        yield cache
        yield CounterMetricFamily(
            "keystile_gateway_cache_evictions_full",
            "Keys evicted from the decision caches before their TTL because a cache was "
            "full (raise cache_size; see the README).",
            value=evicted_full,
        )
        yield GaugeMetricFamily(
            "keystile_gateway_cache_entries",
            "Keys held in the decision caches.",
            value=size,
        )
