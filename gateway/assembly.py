"""What a :class:`~gateway.KeyGateMiddleware` is made of, built from its options.

Construction checks every option (:class:`~gateway.config.GatewayConfig`, ``ConfigError``)
and builds the parts: the rendered problems, the decision cache, the metrics, the runtime
(Redis client, listener, version check, catalog), the resolver of uncached keys and the
refuser, the key checks and the preflight check. The middleware holds them;
:mod:`gateway.middleware` is the request path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp

from gateway.config import GatewayConfig, GatewayOptions
from gateway.keys.cache import DecisionCache
from gateway.keys.checks import KeyChecks
from gateway.keys.client_address import ClientAddress
from gateway.keys.resolver import KeyResolver
from gateway.metrics import GatewayMetrics
from gateway.refusals.answers import Problems
from gateway.refusals.preflight import InnerCors, Preflight
from gateway.refusals.refuser import Refuser
from gateway.runtime.runtime import Runtime
from policies.catalog.catalog import Catalog
from policies.settings import Settings

LOGGER_NAME = "keystile.gateway"


class GatewayParts:
    """The collaborators of one gateway, wired from its options."""

    def __init__(
        self,
        app: ASGIApp,
        options: GatewayOptions,
        *,
        settings: Settings | None,
        catalog: Catalog | None,
        registry: CollectorRegistry | None,
        logger: logging.Logger | None,
        clock: Callable[[], float],
        timer: Callable[[], float],
    ) -> None:
        self.config = config = GatewayConfig.from_options(options)
        settings = Settings.load() if settings is None else settings
        self.logger = logger or logging.getLogger(LOGGER_NAME)
        self.problems = Problems(
            bearer_header=config.bearer_header,
            key_header=config.key_header,
            retry_after=config.retry_after,
            max_path_length=config.max_path_length,
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
        self.resolver = KeyResolver(
            cache=self.cache,
            metrics=self.metrics,
            problems=self.problems,
            runtime=self.runtime,
            logger=self.logger,
            timer=timer,
        )
        self.checks = KeyChecks(
            self.problems,
            clock,
            deny_unmatched=config.unmatched == "deny",
            client_address=ClientAddress(config.trusted_proxies, config.forwarded_header),
        )
        self.inner_cors = InnerCors.find(app)
        self.preflight = Preflight(self.runtime.catalog, self.inner_cors)
        self.refuser = Refuser(
            self.logger,
            self.metrics,
            self.runtime.counter if config.usage_counts else None,
            http_denial=config.websocket_denial == "http",
            cors=self.inner_cors,
            notices=self.runtime.notices,
        )
