"""``KeyGateMiddleware``: decide every HTTP and WebSocket request before the app sees it.

::

    app = KeyGateMiddleware(app, exempt_paths=["/health"])               # or, in Starlette:
    Starlette(routes=..., middleware=[Middleware(KeyGateMiddleware, exempt_paths=["/health"])])

Pure ASGI: ``lifespan`` starts and stops the gateway's background tasks and is passed on;
any other non-HTTP scope passes through untouched. For each request, in order:

1. exempt path (exact, or prefix with a final ``*``) -> the app, no key needed; a CORS
   preflight (``OPTIONS`` with ``Access-Control-Request-Method`` and no key) too, unless
   ``pass_preflight=False``;
2. the key, from ``Authorization: Bearer <key>`` or ``X-API-Key`` (names configurable; a
   non-Bearer ``Authorization`` is left to the app). None -> 401 ``missing_key``; two
   different keys, an empty bearer or anything not a key -> 401 ``invalid_key``;
3. the key's policy, from the cache or one Redis lookup (401 ``invalid_key`` for unknown or
   revoked, 503 ``store_unavailable`` when Redis is away and the key is not cached);
4. expiry (401 ``expired_key``), the publishable key's allowed origins (``Origin``, else
   ``Referer``: 403 ``origin_not_allowed``), then the route's catalog action: blocked ->
   403 ``action_blocked`` naming it; outside the catalog -> ``unmatched``: ``"deny"`` (the
   default) refuses publishable keys and tokens with 403 ``route_not_in_catalog``,
   ``"allow"`` lets any valid key through. SDK keys have full access, catalogued or not.

Allowed requests reach the app with ``scope["user"]``/``scope["auth"]`` (see
:mod:`gateway.identity`) and ``workspace_id``, ``key_kind``, ``key_id``, ``action`` in
``scope["state"]``. Refusals are RFC 9457 problems (see :mod:`gateway.problems`); a
WebSocket is refused before it is accepted. Each refusal logs one line on the
``keystile.gateway`` logger with reason, workspace and key id; the key itself never
appears in a log, a metric or an answer.

The catalog is ``catalog=`` if given, else the store's, reloaded whenever it changes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.cache import DecisionCache
from gateway.config import GatewayConfig, Unmatched, WebSocketDenial
from gateway.denial import Denier
from gateway.entry import CachedKey, normalize_origin
from gateway.invalidation import Invalidation
from gateway.lookup import KeyResolver
from gateway.metrics import GatewayMetrics
from gateway.problems import Problems, Rendered, blocked
from gateway.routing import Action
from gateway.runtime import Runtime
from policies import keyformat
from policies.catalog import Catalog
from policies.errors import StoreUnavailable
from policies.settings import Settings

LOGGER_NAME = "keystile.gateway"
_BEARER = b"bearer"
_PREFLIGHT = b"access-control-request-method"
_blake2s = hashlib.blake2s
_NO_ROUTES: dict[str, Action] = {}  # a method the catalog does not route
_KEY_LENGTH = keyformat.KEY_LENGTH


class KeyGateMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings | None = None,
        catalog: Catalog | None = None,
        bearer_header: str | None = "authorization",
        key_header: str | None = "x-api-key",
        exempt_paths: Collection[str] = (),
        unmatched: Unmatched = "deny",
        pass_preflight: bool = True,
        websocket_denial: WebSocketDenial = "close",
        cache_size: int = 10_000,
        cache_ttl: float = 300.0,
        negative_cache_size: int = 10_000,
        negative_ttl: float = 5.0,
        check_interval: float = 0.5,
        stale_bound: float = 30.0,
        retry_after: int = 2,
        touch_interval: float = 5.0,
        reconnect_min: float = 0.05,
        reconnect_max: float = 2.0,
        start_timeout: float = 2.0,
        store_timeout: float = 0.5,
        registry: CollectorRegistry | None = None,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        """See the module docstring; every option is checked here (``ConfigError``).

        ``settings``: Redis URL and secrets (default: :meth:`Settings.load`, the
        environment). ``registry``: where metrics go (default: prometheus-client's global
        one). ``clock``: wall time, for expiries and last-used times; ``timer``: monotonic
        time, for the cache (both injectable for tests).
        """
        self.app = app
        self.config = config = GatewayConfig(
            bearer_header=bearer_header,
            key_header=key_header,
            exempt_paths=exempt_paths,
            unmatched=unmatched,
            pass_preflight=pass_preflight,
            websocket_denial=websocket_denial,
            cache_size=cache_size,
            cache_ttl=cache_ttl,
            negative_cache_size=negative_cache_size,
            negative_ttl=negative_ttl,
            check_interval=check_interval,
            stale_bound=stale_bound,
            retry_after=retry_after,
            touch_interval=touch_interval,
            reconnect_min=reconnect_min,
            reconnect_max=reconnect_max,
            start_timeout=start_timeout,
            store_timeout=store_timeout,
        )
        settings = Settings.load() if settings is None else settings
        self.logger = logger or logging.getLogger(LOGGER_NAME)
        self._clock = clock
        self._timer = timer
        # Precomputed for the request path: header names as ASGI gives them (bytes).
        self._bearer_name = None if config.bearer_header is None else config.bearer_header.encode()
        self._key_name = None if config.key_header is None else config.key_header.encode()
        self._exempt = frozenset(p for p in config.exempt_paths if not p.endswith("*"))
        self._exempt_prefixes = tuple(p[:-1] for p in config.exempt_paths if p.endswith("*"))
        self._deny_unmatched = config.unmatched == "deny"
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
        self._hot = self.cache.hot
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
        self._denier = Denier(
            self.logger, self.metrics, http_denial=config.websocket_denial == "http"
        )

    @classmethod
    def from_settings(
        cls, app: ASGIApp, /, settings: Settings | None = None, **overrides: Any
    ) -> KeyGateMiddleware:
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

    # -- the request path ----------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type == "http":
            method = scope["method"]
        elif scope_type == "websocket":
            method = "WEBSOCKET"
        elif scope_type == "lifespan":
            await self.runtime.lifespan(self.app, scope, receive, send)
            return
        else:
            await self.app(scope, receive, send)
            return

        path = scope["path"]
        root_path = scope.get("root_path")
        if root_path:
            path = _route_path(path, root_path)
        if path in self._exempt or (
            self._exempt_prefixes and path.startswith(self._exempt_prefixes)
        ):
            self._decisions["exempt", "none"] += 1
            await self.app(scope, receive, send)
            return

        runtime = self.runtime
        if runtime.stale():  # not asyncio.get_running_loop(): see Runtime.stale
            runtime.ensure_started()

        # One pass over the headers; names are lowercase bytes (ASGI).
        headers = scope["headers"]
        bearer_name = self._bearer_name
        key_name = self._key_name
        token: bytes | None = None
        conflict = False
        for name, value in headers:
            if name == bearer_name:
                scheme, _, candidate = value.partition(b" ")
                if scheme.lower() != _BEARER:
                    continue  # another scheme (Basic, ...) is the app's business
                candidate = candidate.strip()
            elif name == key_name:
                candidate = value.strip()
            else:
                continue
            if token is None:
                token = candidate
            elif candidate != token:
                conflict = True

        if token is None:
            if self.config.pass_preflight and method == "OPTIONS" and _has(headers, _PREFLIGHT):
                self._decisions["exempt", "none"] += 1
                await self.app(scope, receive, send)
                return
            await self._denier.deny(scope, receive, send, self.problems.missing_key, method, path)
            return
        if conflict or len(token) != _KEY_LENGTH:
            await self._denier.deny(scope, receive, send, self.problems.invalid_key, method, path)
            return

        cache_key = _blake2s(token).digest()
        cache = self.cache
        # DecisionCache.get, inlined: this is the whole cost of a hit (no clock unless the
        # version check is failing, see gateway.cache).
        entry = self._hot.get(cache_key)
        if entry is None or (cache.degraded and not cache.trusted(entry, self._timer())):
            found, workspace_id = await self._resolver.resolve(token, cache_key)
            if not isinstance(found, CachedKey):
                await self._denier.deny(scope, receive, send, found, method, path, workspace_id)
                return
            entry = found
            hit = False
        else:
            hit = True

        router = runtime.router
        if router is None:
            try:
                router = await runtime.ensure_router()
            except StoreUnavailable:
                router = None
            if router is None:
                await self._denier.deny(
                    scope, receive, send, self.problems.store_unavailable, method, path
                )
                return
        # Router.match's first step inlined (a static path: the common case), else match.
        action = router.static.get(method, _NO_ROUTES).get(path)
        if action is None:
            action = router.match(method, path)

        problem: Rendered | None = None
        if action is not None and not entry.conditional:
            pass  # a catalogued route, a key without expiry, origins or rules: allowed
        elif entry.expires is not None and self._clock() >= entry.expires:
            problem = self.problems.expired_key
        elif entry.origins is not None and _origin(headers) not in entry.origins:
            problem = self.problems.origin_not_allowed
        elif action is None:
            if entry.restricted and self._deny_unmatched:
                problem = self.problems.route_not_in_catalog
        elif action.name in entry.blocked or action.module in entry.blocked_modules:
            problem = blocked(action.module, action.functionality)
        if problem is not None:
            if hit:
                self._cache_counts["hit"] += 1
            await self._denier.deny(
                scope, receive, send, problem, method, path, entry=entry, action=action
            )
            return

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
        state["action"] = None if action is None else action.name
        entry.used = cache.epoch
        if hit:
            entry.hits += 1  # counts as a hit and an allowed decision (gateway.metrics)
        else:
            self._decisions[entry.allowed] += 1
        await self.app(scope, receive, send)


def _route_path(path: str, root_path: str) -> str:
    """The path relative to the app's mount point (as starlette.routing matches it)."""
    if path == root_path:
        return "/"
    if path.startswith(root_path) and path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


def _has(headers: Any, wanted: bytes) -> bool:
    return any(name == wanted for name, _ in headers)


def _origin(headers: Any) -> str | None:
    """The caller's origin: ``Origin``, else the origin of ``Referer``; normalised."""
    origin = referer = None
    for name, value in headers:
        if name == b"origin":
            origin = value
        elif name == b"referer":
            referer = value
    raw = origin if origin is not None else referer
    return None if raw is None else normalize_origin(raw.decode("latin-1"))
