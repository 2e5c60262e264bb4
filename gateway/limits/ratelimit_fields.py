"""The rate-limit answers: ``RateLimit-Policy`` and ``RateLimit`` fields, and the 429.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Awaitable

import http_sf
from starlette.types import Message, Send

from gateway.limits.window_counter import WindowCounter
from gateway.refusals.problems import RATE_LIMITED, Rendered, render

POLICY = b"ratelimit-policy"
LIMIT = b"ratelimit"


def policy_field(counters: tuple[WindowCounter, ...]) -> bytes:
    items = [(c.name, {"q": c.quota, "w": c.seconds}) for c in counters]
    return http_sf.ser(items).encode("ascii")  # type: ignore[arg-type]


def limit_field(counters: tuple[WindowCounter, ...], now: float) -> bytes:
    """The ``RateLimit`` field of an admitted request (each counter's ``room`` ran)."""
    if len(counters) == 1:
        return counters[0].field(now)
    return b", ".join([c.field(now) for c in counters])


def refused_field(counters: tuple[WindowCounter, ...], now: float) -> bytes:
    """The ``RateLimit`` field of a 429: recomputed for every counter (rare, exact)."""
    items = []
    for counter in counters:
        left = counter.remaining(now)
        reset = counter.reset_in(now) if left else counter.retry_in(now)
        items.append(counter.template % (left, reset))
    return b", ".join(items)


def rate_limited(
    refused_by: WindowCounter, counters: tuple[WindowCounter, ...], policy: bytes, now: float
) -> Rendered:
    """The 429 for a request ``refused_by`` one of ``counters``."""
    wait = refused_by.retry_in(now)
    scope = refused_by.key[2]
    what = "this key" if scope == "*" else f"{scope} with this key"
    base = render(
        RATE_LIMITED,
        detail=(
            f"Rate limit reached: at most {refused_by.quota} requests per "
            f"{refused_by.seconds} s for {what}; retry in {wait} s."
        ),
        limit=refused_by.name,
        quota=refused_by.quota,
        window=refused_by.seconds,
    )
    headers = (
        *base.headers,
        (b"retry-after", str(wait).encode()),
        (POLICY, policy),
        (LIMIT, refused_field(counters, now)),
    )
    return Rendered(base.problem, headers, base.body)


_HTTP_START = "http.response.start"
_WEBSOCKET_STARTS = frozenset({"websocket.accept", "websocket.http.response.start"})


def with_fields(send: Send, policy: tuple[bytes, bytes], limit: bytes, scope_type: str) -> Send:
    """``send``, adding both fields (``policy``: its header, prepared once per lane) to
    the response's start (or the WebSocket's accept).

    A plain function handing back ``send``'s own awaitable: no coroutine of its own per
    message (half the wrapper's cost on a hit); for HTTP one string comparison per message."""
    if scope_type == "http":

        def sending(message: Message) -> Awaitable[None]:
            if message["type"] == _HTTP_START:
                message["headers"] = [*message.get("headers", ()), policy, (LIMIT, limit)]
            return send(message)

        return sending

    # A WebSocket's accept, or its HTTP answer (keystile authz decides a handshake so).
    def sending_websocket(message: Message) -> Awaitable[None]:
        if message["type"] in _WEBSOCKET_STARTS:
            message["headers"] = [*message.get("headers", ()), policy, (LIMIT, limit)]
        return send(message)

    return sending_websocket
