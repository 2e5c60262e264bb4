"""``KeyGateMiddleware``: decide every HTTP and WebSocket request before the app sees it.

::

    app = KeyGateMiddleware(app, exempt_paths=["/health"])               # or, in Starlette:
    Starlette(routes=..., middleware=[Middleware(KeyGateMiddleware, exempt_paths=["/health"])])

Pure ASGI: ``lifespan`` starts and stops the gateway's background tasks and is passed on;
any other non-HTTP scope passes through untouched. For each request, in order:

0. a path holding an ASCII control character -> 400 ``invalid_path``, whatever the key;
1. exempt path (exact, or whole segments below a final ``*``) -> the app, no key needed; a
   CORS preflight (``OPTIONS`` with ``Access-Control-Request-Method`` and no key) too, when
   no catalogued endpoint can run for it (:mod:`gateway.refusals.preflight`), unless
   ``pass_preflight=False``;
2. the key, from ``Authorization: Bearer <key>`` or ``X-API-Key`` (names configurable; a
   non-Bearer ``Authorization`` is left to the app). None -> 401 ``missing_key``; two
   different keys, an empty bearer or anything not a key -> 401 ``invalid_key``;
3. the key's policy, from the cache or one Redis lookup (401 ``invalid_key`` for unknown or
   revoked, 503 ``store_unavailable`` when Redis is away and the key is not cached);
4. expiry (401 ``expired_key``), the publishable key's allowed origins (``Origin``, else
   ``Referer``: 403 ``origin_not_allowed``), then the action of the route the app's own
   router will run (:mod:`gateway.routing.router`; a slash redirect runs none): blocked ->
   403 ``action_blocked`` naming it; outside the catalog -> ``unmatched``: ``"deny"`` (the
   default) refuses publishable keys and tokens with 403 ``route_not_in_catalog``,
   ``"allow"`` lets any valid key through. SDK keys have full access, catalogued or not;
5. the key's rate limits, if it has any (:mod:`gateway.limits.limiter`, in process): over one,
   429 ``rate_limited`` with ``Retry-After``; every answer to a limited key carries
   ``RateLimit-Policy`` and ``RateLimit`` (:mod:`gateway.limits.ratelimit_fields`).

Allowed requests reach the app with ``scope["user"]``/``scope["auth"]`` (see
:mod:`gateway.keys.identity`) and ``workspace_id``, ``key_kind``, ``key_id``, ``action`` in
``scope["state"]``. Refusals are RFC 9457 problems (see :mod:`gateway.refusals.problems`); a
WebSocket is refused before it is accepted. Each refusal logs one line on the
``keystile.gateway`` logger with reason, workspace and key id; the key itself never
appears in a log, a metric or an answer.

The catalog is ``catalog=`` if given, else the store's, reloaded whenever it changes. Options,
the parts they build and the life cycle (``start``/``stop``, ``from_settings``): see
:mod:`gateway.assembly`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from starlette.types import Receive, Scope, Send

from gateway.asgi_scope import caller_origin, has_header, host_header, route_path
from gateway.assembly import LOGGER_NAME, GatewayParts
from gateway.keys.cached_key import CachedKey
from gateway.limits.ratelimit_fields import limit_field, rate_limited, with_fields
from gateway.refusals.problems import Rendered, blocked
from gateway.routing.router import REDIRECT, Action
from policies.keys import keyformat

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


class KeyGateMiddleware(GatewayParts):
    """The ASGI app: options, parts and life cycle in :class:`gateway.assembly.GatewayParts`."""

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
        # Before anything reads the path: a control character (a decoded %0A, %00...) is
        # nothing a client means, and "$" in a route's regex matches before a final "\n".
        if not path.isprintable() and _CONTROL.search(path) is not None:
            await self._denier.deny(scope, receive, send, self.problems.invalid_path, method, path)
            return
        root_path = scope.get("root_path") or ""
        relative = route_path(path, root_path) if root_path else path
        if relative in self._exempt or (
            self._exempt_prefixes and relative.startswith(self._exempt_prefixes)
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
        # Where the call comes from (Origin, else Referer), for the origin check and counts:
        # read by the same loop, so a request without either costs no second scan.
        origin: bytes | None = None
        referer: bytes | None = None
        for name, value in headers:
            if name == bearer_name:
                scheme, _, candidate = value.partition(b" ")
                if scheme.lower() != _BEARER:
                    continue  # another scheme (Basic, ...) is the app's business
                candidate = candidate.strip()
            elif name == key_name:
                candidate = value.strip()
            elif name == _ORIGIN:
                origin = value
                continue
            elif name == _REFERER:
                referer = value
                continue
            else:
                continue
            if token is None:
                token = candidate
            elif candidate != token:
                conflict = True

        if token is None:
            if (
                self._pass_preflight
                and method == "OPTIONS"
                and has_header(headers, _PREFLIGHT)
                and await self._preflight_passes(headers, path, root_path, origin is not None)
            ):
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
        # DecisionCache.get, inlined: the TTLCache probe is the whole cost of a hit (the
        # stale bound is tested only once a version check failed, see gateway.keys.cache).
        # Indexing, not .get(): TTLCache.get costs three times as much.
        try:
            entry = self._positive[cache_key]
            hit = not cache.degraded or cache.trusted(entry, self._timer())
        except KeyError:
            hit = False
        if not hit:
            found, workspace_id = await self._resolver.resolve(token, cache_key)
            if not isinstance(found, CachedKey):
                await self._denier.deny(scope, receive, send, found, method, path, workspace_id)
                return
            entry = found

        router = runtime.router
        if router is None:
            router, defect = await runtime.load_router()
            if router is None:
                refusal = (
                    self.problems.internal_error if defect else self.problems.store_unavailable
                )
                await self._denier.deny(scope, receive, send, refusal, method, path)
                return
        # The app's own router decides (gateway.routing.router); its answers for static paths are
        # precomputed, probed inline here: the common case costs two dict probes.
        if root_path or router.by_host:
            host = host_header(headers) if router.by_host else None
            action = router.resolve(method, path, root_path, host)
        else:
            action = router.static.get(method, _NO_ROUTES).get(path, _MISS)
            if action is _MISS:
                action = router.resolve(method, path)

        problem: Rendered | None = None
        if action is not None and not entry.conditional:
            pass  # a catalogued route, a key without expiry, origins or rules: allowed
        elif entry.expires is not None and self._clock() >= entry.expires:
            problem = self.problems.expired_key
        elif entry.origins is not None and caller_origin(origin, referer) not in entry.origins:
            problem = self.problems.origin_not_allowed
        elif action is None:
            if entry.restricted and self._deny_unmatched:
                problem = self.problems.route_not_in_catalog
        elif action.name in entry.blocked or action.module in entry.blocked_modules:
            problem = blocked(action.module, action.functionality)
        name = None if action is None or action is REDIRECT else action.name
        limits = entry.limits
        if (
            problem is None and limits is not None
        ):  # rate limits (gateway.limits.limiter), in process
            counters = limits.by_action.get(name, limits.for_key)
            if counters:
                now = self._clock()
                refused_by = self._limiter.admit(counters, now)
                fields = limits.policies.get(name, limits.key_policy)
                if refused_by is not None:
                    problem = rate_limited(refused_by, counters, fields, now)
                else:
                    send = with_fields(send, fields, limit_field(counters, now), scope_type)
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
        state["action"] = name
        if hit:
            # A hit, an allowed decision (gateway.metrics) and a use (usage.last_used) at once.
            entry.hits += 1
        else:
            entry.used = True
            self._decisions[entry.allowed] += 1
        if self._counting:  # usage counts (gateway.usage.request_counts): one dict increment
            if entry.by_origin:  # Origin, else Referer (normalised at the flush)
                entry.tally[name, origin if origin is not None else referer] += 1
            else:
                entry.tally[name] += 1
        await self.app(scope, receive, send)

    async def _preflight_passes(
        self, headers: Any, path: str, root_path: str, has_origin: bool
    ) -> bool:
        """Whether a key-less preflight may reach the app (:mod:`gateway.refusals.preflight`)."""
        if self._inner_cors is not None and has_origin:
            return True  # the CORS middleware inside answers it: nothing else runs
        router = self.runtime.router
        if router is None:
            router, _ = await self.runtime.load_router()
            if router is None:
                return False
        host = host_header(headers) if router.by_host else None
        action = router.resolve("OPTIONS", path, root_path, host)
        return action is None or action is REDIRECT
