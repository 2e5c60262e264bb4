"""The rate-limit answers: ``RateLimit-Policy`` and ``RateLimit`` fields, and the 429.

Fields as draft-ietf-httpapi-ratelimit-headers-11 defines them, Structured Field Lists
serialised by ``http-sf``: ``RateLimit-Policy: "key-60s";q=100;w=60`` (one item per window
that applies: ``key-<seconds>s`` for the key's, ``<action>-<seconds>s`` for an action's),
``RateLimit: "key-60s";r=42;t=17`` (``r``: what is left; ``t``: seconds until the window's
current bucket ends, or until one more request fits when nothing is left). A policy field is
computed once per cache entry and action; a ``RateLimit`` item once per (name, r, t), memoised,
for serialising costs microseconds and a request has fewer to spend.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import http_sf
from starlette.types import Message, Send

from gateway.problems import RATE_LIMITED, Rendered, render

if TYPE_CHECKING:
    from gateway.limiting import WindowCounter

POLICY = b"ratelimit-policy"
LIMIT = b"ratelimit"


def policy_field(counters: tuple[WindowCounter, ...]) -> bytes:
    items = [(c.name, {"q": c.quota, "w": c.seconds}) for c in counters]
    return http_sf.ser(items).encode("ascii")  # type: ignore[arg-type]


@functools.lru_cache(maxsize=65_536)
def _item(name: str, remaining: int, reset: int) -> str:
    return http_sf.ser([(name, {"r": remaining, "t": reset})])  # type: ignore[list-item]


def limit_field(counters: tuple[WindowCounter, ...], now: float) -> bytes:
    items = []
    for counter in counters:
        left = counter.remaining(now)
        reset = counter.reset_in(now) if left else counter.retry_in(now)
        items.append(_item(counter.name, left, reset))
    return ", ".join(items).encode("ascii")


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
        (LIMIT, limit_field(counters, now)),
    )
    return Rendered(base.problem, headers, base.body)


def with_fields(send: Send, policy: bytes, limit: bytes, scope_type: str) -> Send:
    """``send``, adding both fields to the response's start (or the WebSocket's accept)."""
    start = "http.response.start" if scope_type == "http" else "websocket.accept"

    async def sending(message: Message) -> None:
        if message["type"] == start:
            message["headers"] = [*message.get("headers", ()), (POLICY, policy), (LIMIT, limit)]
        await send(message)

    return sending
