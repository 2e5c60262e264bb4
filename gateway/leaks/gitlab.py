"""GitLab's token revocation API (what a self-managed GitLab's secret detection calls).

``GET /v1/revocable_token_types`` -> ``{"types": [...]}``; ``POST /v1/revoke_tokens``
``[{"type", "token", "location"}, ...]`` -> 204 (every item handled), 400 (a bad body or an
unsupported type: nothing handled), 429 (this process's rate, with Retry-After). Both need
the configured token in ``Authorization`` (bare, or as ``Bearer``), compared in constant
time; only authenticated requests count against the rate.
"""

from __future__ import annotations

import collections
import hmac
import math
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.leaks.answers import (
    MAX_TOKEN,
    Refusal,
    bounded_body,
    busy,
    invalid,
    json_array,
    text,
)
from gateway.leaks.config import LeakConfig
from gateway.leaks.github import Report
from policies.leaks.policy import Outcome, Sighting

WINDOW = 60.0


class GitLabReports:
    def __init__(
        self, config: LeakConfig, report: Report, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        assert config.gitlab_token is not None
        self.config = config
        self.report = report
        self._token = config.gitlab_token.encode()
        self._types = frozenset(config.gitlab_types)
        self._clock = clock
        self._recent: collections.deque[float] = collections.deque()

    async def types(self, request: Request) -> Response:
        self._admit(request)
        return JSONResponse({"types": list(self.config.gitlab_types)})

    async def revoke(self, request: Request) -> Response:
        self._admit(request)
        body = await bounded_body(request, self.config.max_body_bytes)
        items = []
        for item in json_array(body, self.config.max_items):
            kind = text(item, "type", required=True)
            if kind not in self._types:
                raise invalid(f"Unsupported type {kind[:100]!r}: see /v1/revocable_token_types.")
            token = text(item, "token", required=True, limit=MAX_TOKEN)
            items.append((token, text(item, "location", required=False)))
        done, pending = set(), False
        for token, location in items:
            if token not in done:
                done.add(token)
                outcome = await self.report(token, Sighting("gitlab", location))
                pending = pending or outcome is Outcome.PENDING
        if pending:
            raise busy()  # the rest is done; the retry finds it so
        return Response(status_code=204, headers={"cache-control": "no-store"})

    def _admit(self, request: Request) -> None:
        sent = [v for k, v in request.headers.raw if k == b"authorization"]
        value = sent[0].strip() if len(sent) == 1 else b""
        if value[:7].lower() == b"bearer ":
            value = value[7:].strip()
        if not hmac.compare_digest(value, self._token):
            raise Refusal(
                401, "unauthorized", "Unauthorized", "Send the configured token in Authorization."
            )
        now, recent = self._clock(), self._recent
        while recent and recent[0] <= now - WINDOW:
            recent.popleft()
        if len(recent) >= self.config.gitlab_rate:
            wait = max(1, math.ceil(recent[0] + WINDOW - now))
            raise Refusal(
                429,
                "rate_limited",
                "Rate limit reached",
                f"At most {self.config.gitlab_rate} requests a minute; try again in {wait} s.",
                {"retry-after": str(wait)},
            )
        recent.append(now)
