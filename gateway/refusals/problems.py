"""Every refusal, as RFC 9457 ``application/problem+json`` or a WebSocket close code.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.types import Send

from policies import problems as shared
from policies.problems import STORE_UNAVAILABLE as STORE_UNAVAILABLE_CODE
from policies.problems import STORE_UNAVAILABLE_TITLE

CONTENT_TYPE = shared.MEDIA_TYPE.encode()
TYPE_PREFIX = shared.TYPE_PREFIX


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    status: int
    title: str
    detail: str
    close_code: int


MISSING_KEY = Problem("missing_key", 401, "Missing API key", "", 4001)
INVALID_KEY = Problem("invalid_key", 401, "Invalid API key", "The API key is not valid.", 4002)
EXPIRED_KEY = Problem("expired_key", 401, "Expired API key", "The API key has expired.", 4003)
ACTION_BLOCKED = Problem("action_blocked", 403, "Action blocked", "", 4004)
ORIGIN_NOT_ALLOWED = Problem(
    "origin_not_allowed",
    403,
    "Origin not allowed",
    "This publishable key may not be used from this origin.",
    4005,
)
ROUTE_NOT_IN_CATALOG = Problem(
    "route_not_in_catalog",
    403,
    "Route not in catalog",
    "This key may only call the API's catalogued actions.",
    4006,
)
STORE_UNAVAILABLE = Problem(
    STORE_UNAVAILABLE_CODE,
    503,
    STORE_UNAVAILABLE_TITLE,
    "The key could not be checked right now; try again shortly.",
    1013,
)
INVALID_PATH = Problem(
    "invalid_path",
    400,
    "Invalid path",
    "The request path holds a control character.",
    4007,
)
PATH_TOO_LONG = Problem(
    "path_too_long",
    414,
    "Path too long",
    "The request path is longer than this API accepts.",
    4014,
)
METHOD_OVERRIDE = Problem(
    "method_override",
    400,
    "Method override not accepted",
    "This API decides on the request's own method: send it as the method, not as an "
    "X-HTTP-Method-Override, X-HTTP-Method or X-Method-Override header or a _method argument.",
    4008,
)
INVALID_ORIGIN = Problem(
    "invalid_origin",
    400,
    "Invalid origin",
    "The request carries more than one Origin (or Referer) header.",
    4009,
)
INTERNAL_ERROR = Problem(
    "internal_error",
    500,
    "Internal error",
    "The request could not be decided; the error was logged.",
    1011,
)
RATE_LIMITED = Problem("rate_limited", 429, "Rate limit reached", "", 4029)
# Allow-lists (policies.restrictions): the action is not in the key's scopes; the caller's
# address is outside its networks.
ACTION_NOT_ALLOWED = Problem("action_not_allowed", 403, "Action not allowed", "", 4010)
NETWORK_NOT_ALLOWED = Problem(
    "network_not_allowed",
    403,
    "Network not allowed",
    "This key may not be used from this network address.",
    4011,
)
PROBLEMS = {
    p.code: p
    for p in (
        MISSING_KEY,
        INVALID_KEY,
        EXPIRED_KEY,
        ACTION_BLOCKED,
        ORIGIN_NOT_ALLOWED,
        ROUTE_NOT_IN_CATALOG,
        STORE_UNAVAILABLE,
        INVALID_PATH,
        PATH_TOO_LONG,
        METHOD_OVERRIDE,
        INVALID_ORIGIN,
        INTERNAL_ERROR,
        RATE_LIMITED,
        ACTION_NOT_ALLOWED,
        NETWORK_NOT_ALLOWED,
    )
}


@dataclass(frozen=True, slots=True)
class Rendered:
    """A problem ready to send: status, headers and body bytes, computed once."""

    problem: Problem
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    async def send_http(self, send: Send, *, head: bool = False) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.problem.status,
                "headers": list(self.headers),
            }
        )
        await send({"type": "http.response.body", "body": b"" if head else self.body})

    async def send_websocket(self, send: Send, *, http_denial: bool) -> None:
        """Refuse a WebSocket before accepting it.

        ``http_denial``: answer the handshake with the HTTP problem itself (the ASGI
        ``websocket.http.response`` extension, when the server offers it); otherwise close
        with the problem's close code, the code string as the reason.
        """
        if http_denial:
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": self.problem.status,
                    "headers": list(self.headers),
                }
            )
            await send({"type": "websocket.http.response.body", "body": self.body})
            return
        await send(
            {
                "type": "websocket.close",
                "code": self.problem.close_code,
                "reason": self.problem.code,
            }
        )


def render(
    problem: Problem, *, detail: str | None = None, retry_after: int = 0, **extra: Any
) -> Rendered:
    body = shared.document(
        problem.code,
        problem.status,
        problem.title,
        problem.detail if detail is None else detail,
        **extra,
    )
    encoded = json.dumps(body, separators=(",", ":")).encode()
    headers = [
        (b"content-type", CONTENT_TYPE),
        (b"content-length", str(len(encoded)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if problem.status == 401:
        challenge = b"Bearer" if problem is MISSING_KEY else b'Bearer error="invalid_token"'
        headers.append((b"www-authenticate", challenge))
    if problem.status == 503:
        headers.append((b"retry-after", str(retry_after).encode()))
    return Rendered(problem, tuple(headers), encoded)
