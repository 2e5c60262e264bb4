"""``LeakReports``: the ASGI app a host mounts (or ``keystile serve`` does, see
:class:`Mounted`) to receive leak reports from GitHub and GitLab.

Routes, below wherever it is mounted: ``POST /github`` (:mod:`.github`), and with a GitLab
token configured ``GET /gitlab/v1/revocable_token_types`` and
``POST /gitlab/v1/revoke_tokens`` (:mod:`.gitlab`). Each reported key is handled by
:func:`policies.operations.leaks.report` through the async store; a store outage is a 503
the reporter retries (reports are idempotent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Self

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.leaks.answers import Refusal, unavailable
from gateway.leaks.config import LeakConfig
from gateway.leaks.github import GitHubReports
from gateway.leaks.github_keys import GitHubKeys
from gateway.leaks.gitlab import GitLabReports
from policies.errors import KeystileError, StoreUnavailable
from policies.leaks.policy import Outcome, Sighting
from policies.operations import leaks as leak_ops
from policies.settings import Settings
from policies.storage.async_store import AsyncPolicyStore
from policies.storage.connections import async_client

logger = logging.getLogger("keystile.leaks")
Handler = Callable[[Request], Awaitable[Response]]
NOT_FOUND = Refusal(404, "not_found", "Not found", "No leak-report endpoint here.")


class LeakReports:
    """The leak-report endpoint; options: :class:`gateway.leaks.config.LeakConfig`."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        store: AsyncPolicyStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> None:
        self.config = config = LeakConfig(**options)
        if store is None:
            settings = Settings.load() if settings is None else settings
            client = async_client(settings.redis_url, timeout=config.store_timeout)
            store = AsyncPolicyStore(client, settings.keyring(), timeout=config.store_timeout)
        self.store = store
        self.keys = GitHubKeys(
            config.github_keys_url,
            token=config.github_keys_token,
            refresh=config.github_keys_refresh,
            timeout=config.github_keys_timeout,
            clock=clock,
        )
        self.routes: dict[tuple[str, str], Handler] = {}
        if config.github:
            self.routes["POST", "/github"] = GitHubReports(config, self.keys, self.report)
        if config.gitlab_token is not None:
            gitlab = GitLabReports(config, self.report, clock=clock)
            self.routes["GET", "/gitlab/v1/revocable_token_types"] = gitlab.types
            self.routes["POST", "/gitlab/v1/revoke_tokens"] = gitlab.revoke

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> Self:
        """The ``[leaks]`` table (and ``KEYSTILE_LEAKS_*``), then ``overrides``."""
        settings = Settings.load() if settings is None else settings
        table = settings.section("leaks", LeakConfig)
        LeakConfig.from_mapping(table)  # unknown names fail here, by name
        return cls(settings=settings, **{**table, **overrides})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # a WebSocket is not a report
        request = Request(scope, receive)
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        handler = self.routes.get((request.method, path))
        try:
            if handler is None:
                allowed = sorted(m for m, p in self.routes if p == path)
                raise _not_allowed(allowed) if allowed else NOT_FOUND
            response = await handler(request)
        except Refusal as refusal:
            response = refusal.response()
        except ClientDisconnect:  # gone before its body ended: no one to answer
            return
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Served on its own: nothing to start; the store's connections close at the end."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.store.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def report(self, token: str, sighting: Sighting) -> Outcome:
        """Handle one reported key (its material never logged)."""
        try:
            return await self.store.run(leak_ops.report(self.store.ctx, token, sighting))
        except StoreUnavailable:
            raise unavailable("The key store cannot be reached; try again shortly.") from None
        except KeystileError as exc:  # e.g. the workspace went away meanwhile
            logger.warning("leaks: a report could not be handled: %s", exc)
            return Outcome.UNKNOWN


def _not_allowed(allowed: list[str]) -> Refusal:
    detail = f"Only {', '.join(allowed)} here."
    headers = {"allow": ", ".join(allowed)}
    return Refusal(405, "method_not_allowed", "Method not allowed", detail, headers)


class Mounted:
    """``app`` with ``leaks`` at ``path`` and below (no key needed there): what ``keystile
    serve`` runs when ``[leaks] enabled``. Every other request goes to ``app`` untouched."""

    def __init__(self, app: ASGIApp, leaks: ASGIApp, path: str) -> None:
        self.app = app
        self.leaks = leaks
        self.path = path
        self.below = path + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == self.path or path.startswith(self.below):
                root = scope.get("root_path", "")
                await self.leaks({**scope, "root_path": root + self.path}, receive, send)
                return
        await self.app(scope, receive, send)
