"""What a :class:`~gateway.KeyGateMiddleware` is made of, wired from its options, and its
life cycle; the request path itself is :mod:`gateway.middleware`.

Construction checks every option (:class:`~gateway.config.GatewayConfig`, ``ConfigError``)
and builds the parts: the decision cache, the metrics, the runtime (Redis client, listener,
version check, catalog), the resolver of uncached keys and the denier. It also precomputes
what the request path reads on every call (header names as bytes, the exempt paths, the
bound counters), so that path does attribute loads and no setup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Self, Unpack

from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp

from gateway.config import GatewayConfig, GatewayOptions
from gateway.keys.cache import DecisionCache
from gateway.keys.invalidation import Invalidation
from gateway.keys.resolver import KeyResolver
from gateway.metrics import GatewayMetrics
from gateway.refusals.preflight import InnerCors
from gateway.refusals.problems import Problems
from gateway.refusals.refuser import Denier
from gateway.routing.exempt import split
from gateway.runtime.runtime import Runtime
from policies.catalog.catalog import Catalog
from policies.settings import Settings

LOGGER_NAME = "keystile.gateway"


class GatewayParts:
    """The parts and life cycle of :class:`gateway.KeyGateMiddleware` (its base class)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings | None = None,
        catalog: Catalog | None = None,
        registry: CollectorRegistry | None = None,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
        **options: Unpack[GatewayOptions],
    ) -> None:
        """``options``: the fields of :class:`gateway.config.GatewayConfig` (names, defaults,
        meanings); every one is checked here (``ConfigError``).

        ``settings``: Redis URL and secrets (default: :meth:`Settings.load`, the
        environment). ``registry``: where metrics go (default: prometheus-client's global
        one). ``clock``: wall time, for expiries and last-used times; ``timer``: monotonic
        time, for the cache (both injectable for tests).
        """
        self.app = app
        self.config = config = GatewayConfig.from_options(options)
        settings = Settings.load() if settings is None else settings
        self.logger = logger or logging.getLogger(LOGGER_NAME)
        self._clock = clock
        self._timer = timer
        # Precomputed for the request path: header names as ASGI gives them (bytes).
        self._bearer_name = None if config.bearer_header is None else config.bearer_header.encode()
        self._key_name = None if config.key_header is None else config.key_header.encode()
        self._exempt, self._exempt_prefixes = split(config.exempt_paths)
        self._deny_unmatched = config.unmatched == "deny"
        self._pass_preflight = config.pass_preflight
        self._counting = config.usage_counts
        self.problems = Problems(
            bearer_header=config.bearer_header,
            key_header=config.key_header,
            retry_after=config.retry_after,
        )
        self.cache = DecisionCache(
            size=config.cache_size,
            ttl=config.cache_ttl,
            negative_size=config.negative_cache_size,
            negative_ttl=config.negative_ttl,
            stale_bound=config.stale_bound,
            timer=timer,
        )
        self.metrics = GatewayMetrics.for_registry(registry)
        self.metrics.watch_cache(self.cache)
        # Bound once: the request path reads these on every call.
        self._positive = self.cache.positive
        self._decisions = self.metrics.decisions
        self._cache_counts = self.metrics.cache
        self.runtime = Runtime(
            settings=settings,
            keyring=settings.keyring(clock),
            config=config,
            cache=self.cache,
            metrics=self.metrics,
            logger=self.logger,
            catalog=catalog,
            clock=clock,
        )
        self._resolver = KeyResolver(
            cache=self.cache,
            metrics=self.metrics,
            problems=self.problems,
            runtime=self.runtime,
            logger=self.logger,
            timer=timer,
        )
        self._limiter = self.runtime.limiter
        self._inner_cors = InnerCors.find(app)
        self._denier = Denier(
            self.logger,
            self.metrics,
            self.runtime.counter if config.usage_counts else None,
            http_denial=config.websocket_denial == "http",
            cors=self._inner_cors,
        )

    @classmethod
    def from_settings(
        cls, app: ASGIApp, /, settings: Settings | None = None, **overrides: Any
    ) -> Self:
        """Options from the ``[gateway]`` table of the config file, then ``overrides``.

        Usable as a Starlette middleware factory: ``Middleware(KeyGateMiddleware.from_settings)``.
        """
        settings = Settings.load() if settings is None else settings
        options = GatewayConfig.from_mapping(settings.section("gateway", GatewayConfig))
        return cls(app, settings=settings, **{**options, **overrides})

    # -- life cycle, for apps without a lifespan and for tests ---------------------------
    @property
    def invalidation(self) -> Invalidation:
        return self.runtime.invalidation

    async def start(self) -> None:
        await self.runtime.start()

    async def stop(self) -> None:
        await self.runtime.stop()

    async def flush_usage(self) -> int:
        return await self.runtime.flush_usage()
