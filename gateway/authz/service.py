"""``AuthzService``: the gateway's decision for a request a reverse proxy asks about.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any, Self

from starlette.types import Receive, Scope, Send

from gateway.authz.answers import (
    HeadAnswer,
    HttpAnswer,
    Identity,
    ProblemInHeader,
    WebSocketAnswer,
    handshake,
)
from gateway.authz.callers import TrustedCallers
from gateway.authz.config import AuthzConfig
from gateway.authz.dialects import Dialect, DialectName, Original, Refusal
from gateway.authz.upstreams import Ambiguous, Upstream, UpstreamName, check_catalog
from gateway.config import GatewayConfig
from gateway.keys.client_address import ClientAddress
from gateway.middleware import KeyGateMiddleware
from gateway.refusals.problems import Problem, Rendered, render
from policies.errors import CatalogError, ConfigError
from policies.settings import Settings

UNTRUSTED_CALLER = Problem(
    "untrusted_caller",
    403,
    "Untrusted caller",
    "This service answers its configured proxies only.",
    1008,
)
INVALID_CHECK = Problem("invalid_check_request", 400, "Invalid check request", "", 1008)
# The detail says why: the upstream profile's reason (gateway.authz.upstreams).
AMBIGUOUS_PATH = Problem("ambiguous_path", 400, "Ambiguous path", "", 1008)
_WS_EXTENSION = "websocket.http.response"
_ASGI = {"version": "3.0"}
_HTTP_SCHEME = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


class AuthzService:
    """The ASGI app (see the module's docstring); options: :mod:`gateway.authz.config`,
    and any :class:`~gateway.KeyGateMiddleware` option by keyword."""

    def __init__(
        self,
        *,
        dialect: DialectName,
        upstream: UpstreamName = "strict",
        trusted_proxies: Collection[str] = (),
        shared_secret_header: str = "x-keystile-authz-secret",  # noqa: S107 - a header name
        shared_secret: str | None = None,
        method_header: str | None = None,
        uri_header: str | None = None,
        host_header: str | None = None,
        path_prefix: str = "",
        workspace_header: str = "x-keystile-workspace",
        key_kind_header: str = "x-keystile-key-kind",
        key_id_header: str = "x-keystile-key-id",
        action_header: str = "x-keystile-action",
        **gateway_options: Any,
    ) -> None:
        self.config = config = AuthzConfig(
            dialect=dialect,
            upstream=upstream,
            trusted_proxies=trusted_proxies,
            shared_secret_header=shared_secret_header,
            shared_secret=shared_secret,
            method_header=method_header,
            uri_header=uri_header,
            host_header=host_header,
            path_prefix=path_prefix,
            workspace_header=workspace_header,
            key_kind_header=key_kind_header,
            key_id_header=key_id_header,
            action_header=action_header,
        )
        self._callers = callers = TrustedCallers(config)
        self.dialect = Dialect(
            config.dialect,
            method_header=config.method_header or "",
            uri_header=config.uri_header or "",
            host_header=config.host_header or "",
            path_prefix=config.path_prefix,
        )
        # Neither the description of the check nor the secret is the original's header.
        self._dropped = self.dialect.own_headers | {callers.secret_header}
        self._dropped_and_host = self._dropped | {b"host"}  # the description names the Host
        # A proxy relays an HTTP answer: WebSockets are refused with the HTTP problem too.
        gateway_options["websocket_denial"] = "http"
        # Keys restricted to networks: the client is the address the proxy reports in its
        # forwarding header, believed from the trusted proxies only (gateway.keys.client_address).
        gateway_options["trusted_proxies"] = tuple(map(str, callers.networks))
        if upstream != "starlette" and gateway_options.get("method_override") == "decide":
            raise ConfigError(
                "method_override = 'decide' is for a Starlette upstream: the others honour "
                "no override, or for POST only (Express's method-override)"
            )
        self.gate = KeyGateMiddleware(Identity(config), **gateway_options)
        # The upstream's profile decides which path the gate decides; a catalog it cannot
        # be decided for is refused like any unusable catalog (the last good one stays).
        self.upstream = Upstream(config.upstream)
        loader = self.gate.runtime.catalog
        loader.check = lambda catalog: check_catalog(config.upstream, catalog)
        if loader.router is not None:  # a catalog given in code
            try:
                loader.check(loader.router.catalog)
            except CatalogError as exc:
                raise ConfigError(f"catalog=: {exc}") from None
        self.logger: logging.Logger = self.gate.logger
        # With a shared secret alone, the caller holding it is the proxy whatever its
        # address: the client is the right-most hop of its forwarding header (none: unknown),
        # never the proxy's own address.
        self._reported = (
            None if callers.networks else ClientAddress((), self.gate.config.forwarded_header)
        )
        self._untrusted = render(UNTRUSTED_CALLER)
        self._ambiguous: dict[str, Rendered] = {}  # by reason
        self._nginx = config.dialect == "nginx"

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> Self:
        """``[authz]`` options, the ``[gateway]`` ones for the decision, then ``overrides``."""
        settings = Settings.load() if settings is None else settings
        authz = AuthzConfig.from_mapping(settings.section("authz", AuthzConfig))
        gateway = GatewayConfig.from_mapping(settings.section("gateway", GatewayConfig))
        return cls(settings=settings, **{**gateway, **authz, **overrides})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.gate(scope, receive, send)  # starts and stops the gateway's tasks
            return
        if kind == "websocket":
            # A proxy that passed the client's upgrade on to the check (Caddy does): answer
            # the handshake in HTTP, which it relays, rather than ever accepting it.
            if _WS_EXTENSION not in (scope.get("extensions") or {}):
                await send({"type": "websocket.close", "code": 1008})
                return
            send = WebSocketAnswer(send)
        elif kind != "http":
            return
        if self._nginx:
            send = ProblemInHeader(send)
        if not self._callers.trusted(scope):
            client = scope.get("client")
            self.logger.info(
                "authz: refused an untrusted caller %s",
                None if client is None else client[0],
                extra={"event": "authz.untrusted", "client": client and client[0]},
            )
            await self._untrusted.send_http(send)
            return
        try:
            original = self.dialect.original(scope)
        except Refusal as exc:
            await render(INVALID_CHECK, detail=str(exc)).send_http(send)
            return
        if original.method == "HEAD" and scope.get("method") != "HEAD":
            send = HeadAnswer(send)
        websocket = original.method == "GET" and _websocket_upgrade(scope["headers"])
        path = await self._path(original, websocket, send)
        if path is None:
            return
        host = original.host
        dropped = self._dropped if host is None else self._dropped_and_host
        headers = [header for header in scope["headers"] if header[0] not in dropped]
        if host is not None:
            headers.append((b"host", host))
        state = scope.get("state")
        inner: dict[str, Any] = {
            "type": "http",
            "asgi": scope.get("asgi") or _ASGI,
            "http_version": scope.get("http_version", "1.1"),
            "scheme": _HTTP_SCHEME.get(scope.get("scheme", "http"), "http"),
            "method": original.method,
            "path": path,
            "raw_path": original.raw_path,
            "query_string": original.query_string,
            "root_path": "",
            "headers": headers,
            "client": scope.get("client") if self._reported is None else self._client(scope),
            "server": scope.get("server"),
            "state": dict(state) if state else {},
        }
        if websocket:
            del inner["method"]
            inner["type"] = "websocket"
            inner["scheme"] = "wss" if inner["scheme"] == "https" else "ws"
            inner["subprotocols"] = []
            inner["extensions"] = {_WS_EXTENSION: {}}
            await self.gate(inner, handshake, HttpAnswer(send))
            return
        await self.gate(inner, receive, send)

    def _client(self, scope: Scope) -> tuple[str, int] | None:
        """The client the proxy that proved the shared secret reports (no port: unknown)."""
        assert self._reported is not None
        found = self._reported.client_of(scope["headers"], None)
        return None if found is None else (found, 0)

    async def _path(self, original: Original, websocket: bool, send: Send) -> str | None:
        """The path the gate decides, as the upstream's profile says; None once refused."""
        loader = self.gate.runtime.catalog
        router = loader.router
        if router is None and self.upstream.profile.routers:
            router, defect = await loader.load_router()
            if router is None:
                problems = self.gate.problems
                refusal = problems.internal_error if defect else problems.store_unavailable
                await refusal.send_http(send, head=original.method == "HEAD")
                return None
        method = "WEBSOCKET" if websocket else original.method
        try:
            raw = original.raw_path.decode("ascii")
            return self.upstream.path(router, method, raw, original.path)
        except Ambiguous as exc:
            why = str(exc)
            self.logger.info(
                "authz: refused an ambiguous path %s %r: %s",
                original.method,
                original.path[:200],
                why,
                extra={"event": "authz.ambiguous_path", "path": original.path[:200]},
            )
            rendered = self._ambiguous.get(why)
            if rendered is None:
                rendered = self._ambiguous[why] = render(AMBIGUOUS_PATH, detail=why)
            await rendered.send_http(send, head=original.method == "HEAD")
            return None

    async def start(self) -> None:
        await self.gate.start()

    async def stop(self) -> None:
        await self.gate.stop()


def _websocket_upgrade(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"upgrade" and b"websocket" in value.lower().replace(b" ", b"").split(b","):
            return True
    return False
