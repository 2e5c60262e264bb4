"""Refusing a request: one metric, one structured log line, then the answer.

The log line (``keystile.gateway`` logger, INFO) names the reason, the workspace and key id
when known, the action, the method and the path (``repr``, cut at 200 characters, so no
control character reaches a log), with the same fields as ``extra`` for structured
handlers. Nothing in it can hold key material: the gateway never passes the key along.
"""

from __future__ import annotations

import logging

from starlette.types import Receive, Scope, Send

from gateway.keys.cached_key import CachedKey
from gateway.limits.notices import LimitNotices
from gateway.metrics import GatewayMetrics
from gateway.refusals.preflight import InnerCors
from gateway.refusals.problems import Rendered
from gateway.routing.router import Action
from gateway.usage.request_counts import UsageCounter

_WEBSOCKET_DENIAL_EXTENSION = "websocket.http.response"
_LOG_PATH_CHARS = 200


class Refuser:
    def __init__(
        self,
        logger: logging.Logger,
        metrics: GatewayMetrics,
        counter: UsageCounter | None = None,
        *,
        http_denial: bool,
        cors: InnerCors | None = None,
        notices: LimitNotices | None = None,
    ) -> None:
        self.logger = logger
        self.decisions = metrics.decisions
        self.counter = counter  # usage counts (None: off)
        self.http_denial = http_denial
        self.cors = cors  # a CORS middleware inside the gateway: refusals go through it
        self.notices = notices  # rate-limit refusals, for the security notifications

    async def refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        problem: Rendered,
        method: str,
        path: str,
        workspace_id: str | None = None,
        *,
        entry: CachedKey | None = None,
        action: Action | None = None,
    ) -> None:
        code = problem.problem.code
        kind = "none" if entry is None else entry.kind_name
        self.decisions[code, kind] += 1
        if entry is not None:
            workspace_id = entry.workspace_id
        key_id = None if entry is None else entry.key_id
        action_name = None if action is None else action.name or None
        if self.counter is not None:
            self.counter.refused(code, entry, action_name)
        if code == "rate_limited" and entry is not None and self.notices is not None:
            self.notices.refused(entry)
        self.logger.info(
            "denied %s: workspace=%s key_id=%s action=%s %s %r",
            code,
            workspace_id,
            key_id,
            action_name,
            method,
            path[:_LOG_PATH_CHARS],
            extra={
                "event": "gateway.denied",
                "reason": code,
                "workspace_id": workspace_id,
                "key_id": key_id,
                "key_kind": kind,
                "action": action_name,
                "method": method,
                "path": path[:_LOG_PATH_CHARS],
                "status": problem.problem.status,
            },
        )
        if method != "WEBSOCKET":
            if self.cors is not None and any(n == b"origin" for n, _ in scope["headers"]):
                await self.cors.refuse(scope, receive, send, problem)
                return
            await problem.send_http(send, head=method == "HEAD")
            return
        message = await receive()  # the handshake's websocket.connect
        if message["type"] != "websocket.connect":
            return  # the client is already gone
        offered = _WEBSOCKET_DENIAL_EXTENSION in (scope.get("extensions") or {})
        await problem.send_websocket(send, http_denial=self.http_denial and offered)
