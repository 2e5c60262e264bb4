"""``KeyGateMiddleware``: decide every HTTP and WebSocket request before the app sees it.

::

    app = KeyGateMiddleware(app, exempt_paths=["/health"])               # or, in Starlette:
    Starlette(routes=..., middleware=[Middleware(KeyGateMiddleware, exempt_paths=["/health"])])

The checks, in order, and what an allowed request carries: ``docs/architecture.md``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any, Self, Unpack

from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.asgi_scope import has_header, host_header, route_path
from gateway.assembly import LOGGER_NAME, GatewayParts
from gateway.config import GatewayConfig, GatewayOptions
from gateway.keys.cached_key import CachedKey
from gateway.keys.invalidation import Invalidation
from gateway.limits.limiter import HOLD
from gateway.refusals.overrides import OVERRIDE_HEADERS as _OVERRIDE_HEADERS
from gateway.refusals.overrides import Overrides
from gateway.refusals.problems import Rendered
from gateway.routing.catalog_from_app import app_root_path
from gateway.routing.exempt import split
from gateway.routing.router import REDIRECT, Action, Router
from policies.catalog.catalog import Catalog
from policies.keys import keyformat
from policies.settings import Settings

__all__ = ["LOGGER_NAME", "KeyGateMiddleware"]

_BEARER = b"bearer"
_PREFLIGHT = b"access-control-request-method"
_ORIGIN = b"origin"
_REFERER = b"referer"
_blake2s = hashlib.blake2s
_NO_ROUTES: dict[str, Action | None] = {}  # a method the catalog does not route
_MISS = Action("", "(not resolved yet)")
# ASCII control characters (the C0 set and DEL); isprintable() screens for them first.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KEY_LENGTH = keyformat.KEY_LENGTH


class KeyGateMiddleware:
    """The ASGI app; it holds its parts (:class:`gateway.assembly.GatewayParts`)."""

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
        self.parts = parts = GatewayParts(
            app,
            options,
            settings=settings,
            catalog=catalog,
            registry=registry,
            logger=logger,
            clock=clock,
            timer=timer,
        )
        self.config = config = parts.config
        self.logger = parts.logger
        self.problems = parts.problems
        self.cache = parts.cache
        self.metrics = parts.metrics
        self.runtime = parts.runtime
        # Bound once, so the request path does attribute loads and no setup.
        self._clock = clock
        self._timer = timer
        self._bearer_name = None if config.bearer_header is None else config.bearer_header.encode()
        self._key_name = None if config.key_header is None else config.key_header.encode()
        self._exempt, self._exempt_prefixes = split(config.exempt_paths)
        self._pass_preflight = config.pass_preflight
        self._counting = config.usage_counts
        self._positive = parts.cache.positive
        self._decisions = parts.metrics.decisions
        self._cache_counts = parts.metrics.cache
        self._catalog = parts.runtime.catalog
        self._limiter = parts.runtime.limiter
        self._resolver = parts.resolver
        self._refuse = parts.refuser.refuse
        self._checks = parts.checks
        self._preflight = parts.preflight
        self._root_path = app_root_path(app)
        self._max_path = config.max_path_length
        self._overrides = Overrides(parts.problems, decide=config.method_override == "decide")

    @classmethod
    def from_settings(
        cls, app: ASGIApp, settings: Settings | None = None, **overrides: Any
    ) -> Self:
        """Options from the ``[gateway]`` table of the config file, then ``overrides``.

        Usable as a Starlette middleware factory: ``Middleware(KeyGateMiddleware.from_settings)``
        (``app`` by keyword too: Starlette before 0.42 passes it so).
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

    # -- the request path ----------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type == "http":
            method = scope["method"]
        elif scope_type == "websocket":
            method = "WEBSOCKET"
        else:
            await self._not_a_request(scope, receive, send)
            return
        path = scope["path"]
        # Before anything reads the path: a control character (a decoded %0A, %00...) is
        # nothing a client means, and "$" in a route's regex matches before a final "\n".
        if not path.isprintable() and _CONTROL.search(path) is not None:
            await self._refuse(scope, receive, send, self.problems.invalid_path, method, path)
            return
        if len(path) > self._max_path:  # routing and logging cost what a path is long
            await self._refuse(scope, receive, send, self.problems.path_too_long, method, path)
            return
        # The app's own root path when it sets one (FastAPI(root_path=...) overrides the
        # server's): the router will strip that one.
        root_path = self._root_path or scope.get("root_path") or ""
        relative = route_path(path, root_path) if root_path else path
        # Inline (bench case 1): exact, or whole segments below a final "*".
        if relative in self._exempt or (
            self._exempt_prefixes and relative.startswith(self._exempt_prefixes)
        ):
            self._decisions["exempt", "none"] += 1
            await self.app(scope, receive, send)
            return
        runtime = self.runtime
        if runtime.stale():  # not asyncio.get_running_loop(): see Runtime.stale
            runtime.ensure_started()

        # Inline (bench case 1): one pass over the headers (lowercase bytes) for the key
        # and where the call comes from (Origin, Referer: for origins and counts).
        bearer_name = self._bearer_name
        key_name = self._key_name
        token: bytes | None = None
        conflict = False
        origin: bytes | None = None
        referer: bytes | None = None
        suspect = False  # a second Origin or Referer, or a method override header
        for name, value in scope["headers"]:
            if name == bearer_name:
                scheme, _, candidate = value.partition(b" ")
                if scheme.lower() != _BEARER:
                    continue  # another scheme (Basic, ...) is the app's business
                candidate = candidate.strip()
            elif name == key_name:
                candidate = value.strip()
            elif name == _ORIGIN:
                suspect = suspect or origin is not None
                origin = value
                continue
            elif name == _REFERER:
                suspect = suspect or referer is not None
                referer = value
                continue
            elif name in _OVERRIDE_HEADERS:
                suspect = True
                continue
            else:
                continue
            if token is None:
                token = candidate
            elif candidate != token:
                conflict = True
        if token is None or conflict or len(token) != _KEY_LENGTH:
            await self._keyless(scope, receive, send, method, token, origin is not None)
            return
        # A bytes search on the query: "_method" needs a "_" or a "%5F" in it.
        query = scope.get("query_string")
        if suspect or (query and (b"_" in query or b"%" in query)):
            decided = self._overrides.method(scope, method, origin is not None)
            if isinstance(decided, Rendered):
                await self._refuse(scope, receive, send, decided, method, path)
                return
            method = decided

        cache_key = _blake2s(token).digest()
        # Inline (bench case 1): the positive cache's TTLCache probe is a hit's main cost;
        # indexing, not .get(): TTLCache.get costs three times as much. The stale bound
        # is tested only once a version check failed (DecisionCache.trusted).
        try:
            entry = self._positive[cache_key]
            hit = not self.cache.degraded or self.cache.trusted(entry, self._timer())
        except KeyError:
            hit = False
        if not hit:
            found, workspace_id = await self._resolver.resolve(token, cache_key)
            if not isinstance(found, CachedKey):
                await self._refuse(scope, receive, send, found, method, path, workspace_id)
                return
            entry = found

        router = self._catalog.router
        if router is None:
            router = await self._load_router(scope, receive, send, method)
            if router is None:
                return
        # Inline (bench case 1): a static path's action is two dict probes.
        if root_path or router.by_host:
            action = self._action(router, method, path, root_path, scope["headers"])
        else:
            action = router.static.get(method, _NO_ROUTES).get(path, _MISS)
            if action is _MISS:
                action = router.resolve(method, path)

        # Inline guard (bench case 1): most keys carry no expiry, origins or rules.
        if action is not None and not entry.conditional:
            problem = None
        else:
            problem = self._checks.refusal(entry, action, origin, referer, scope)
        name = None if action is None or action is REDIRECT else action.name
        if problem is None and entry.limits is not None:  # in process (gateway.limits)
            problem, send = self._limiter.answer(entry.limits, name, send, scope_type)
            if problem is HOLD:  # not synced lately: waits for the sync that is due (rare)
                problem, send = await self._limiter.held(entry.limits, name, send, scope_type)
        if problem is not None:
            if hit:
                self._cache_counts["hit"] += 1
            await self._refuse(
                scope, receive, send, problem, method, path, entry=entry, action=action
            )
            return
        self._admit(scope, entry, name, hit, origin if origin is not None else referer)
        await self.app(scope, receive, send)

    # -- its steps -----------------------------------------------------------------------
    async def _not_a_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``lifespan`` starts and stops the gateway around the app's; anything else passes."""
        if scope["type"] == "lifespan":
            await self.runtime.lifespan(self.app, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _keyless(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        method: str,
        token: bytes | None,
        has_origin: bool,
    ) -> None:
        """No usable key: a CORS preflight may pass, anything else is refused."""
        path = scope["path"]
        if token is not None:  # two different keys, or not the length of one
            await self._refuse(scope, receive, send, self.problems.invalid_key, method, path)
            return
        headers = scope["headers"]
        root_path = self._root_path or scope.get("root_path") or ""
        if (
            self._pass_preflight
            and method == "OPTIONS"
            and has_header(headers, _PREFLIGHT)
            and await self._preflight.passes(headers, path, root_path, has_origin)
        ):
            self._decisions["exempt", "none"] += 1
            await self.app(scope, receive, send)
            return
        await self._refuse(scope, receive, send, self.problems.missing_key, method, path)

    async def _load_router(
        self, scope: Scope, receive: Receive, send: Send, method: str
    ) -> Router | None:
        """The router, loaded now; None once the request is refused (503, or 500 for a
        defect) because there is none."""
        router, defect = await self._catalog.load_router()
        if router is None:
            problems = self.problems
            refusal = problems.internal_error if defect else problems.store_unavailable
            await self._refuse(scope, receive, send, refusal, method, scope["path"])
        return router

    @staticmethod
    def _action(
        router: Router, method: str, path: str, root_path: str, headers: Any
    ) -> Action | None:
        """The action the app's own router will run (:mod:`gateway.routing.router`)."""
        host = host_header(headers) if router.by_host else None
        return router.resolve(method, path, root_path, host)

    def _admit(
        self, scope: Scope, entry: CachedKey, name: str | None, hit: bool, origin: bytes | None
    ) -> None:
        """What the app sees (``scope["user"]``, ``scope["auth"]``, ``scope["state"]``) and
        what is counted: the decision, the last use, the request by action (and origin)."""
        scope["user"] = entry.user
        scope["auth"] = entry.auth
        # The ASGI spec gives each request its own shallow copy of the lifespan state.
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        # Four stores: cheaper than update() from a per-key dict, and no dict per entry.
        state["workspace_id"] = entry.workspace_id
        state["key_kind"] = entry.kind
        state["key_id"] = entry.key_id
        state["action"] = name
        if hit:
            # A hit, an allowed decision (gateway.metrics) and a use (usage.last_used) at once.
            entry.hits += 1
        else:
            entry.used = True
            self._decisions[entry.allowed] += 1
        if self._counting:  # request counts (gateway.usage.request_counts): one increment
            if entry.by_origin:  # Origin, else Referer (normalised at the flush)
                entry.tally[name, origin] += 1
            else:
                entry.tally[name] += 1
