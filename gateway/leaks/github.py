"""GitHub's secret-scanning partner contract: a signed JSON array of reported tokens.

``POST`` ``[{"token", "type", "url", "source"}, ...]`` with ``Github-Public-Key-Identifier``
and ``Github-Public-Key-Signature``; the signature is checked over the raw body before
anything else reads it. The answer is GitHub's optional feedback: one
``{"token_hash", "token_type", "label"}`` a distinct reported token, ``true_positive`` for a
key of this deployment, ``false_positive`` for anything else (a publishable key among them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.leaks.answers import (
    MAX_TOKEN,
    Refusal,
    bounded_body,
    busy,
    json_array,
    text,
    unavailable,
)
from gateway.leaks.config import LeakConfig
from gateway.leaks.github_keys import GitHubKeys, KeysUnavailable
from policies.leaks.policy import Outcome, Sighting

Report = Callable[[str, Sighting], Awaitable[Outcome]]
IDENTIFIER = "github-public-key-identifier"
SIGNATURE = "github-public-key-signature"


def _unsigned(detail: str) -> Refusal:
    return Refusal(401, "invalid_signature", "Invalid signature", detail)


class GitHubReports:
    def __init__(self, config: LeakConfig, keys: GitHubKeys, report: Report) -> None:
        self.config = config
        self.keys = keys
        self.report = report

    async def __call__(self, request: Request) -> Response:
        identifier = _one(request, IDENTIFIER)
        signature = _one(request, SIGNATURE)
        if not identifier or not signature:
            raise _unsigned(f"Send the {IDENTIFIER} and {SIGNATURE} headers.")
        body = await bounded_body(request, self.config.max_body_bytes)
        try:
            verified = await self.keys.verify(identifier, signature, body)
        except KeysUnavailable:
            raise unavailable("GitHub's public keys could not be fetched.", 30) from None
        if not verified:
            raise _unsigned("The signature is not GitHub's over this body.")
        reports = [
            (
                text(item, "token", required=True, limit=MAX_TOKEN),
                text(item, "type", required=True),
                text(item, "url", required=False),
                text(item, "source", required=False),
            )
            for item in json_array(body, self.config.max_items)
        ]
        outcomes: dict[str, Outcome] = {}
        feedback: dict[tuple[str, str], dict[str, str]] = {}
        for token, kind, url, source in reports:
            if token not in outcomes:  # a duplicate is answered, not handled again
                outcomes[token] = await self.report(token, Sighting("github", url, source))
            feedback.setdefault(
                (token, kind),
                {
                    "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                    "token_type": kind,
                    "label": outcomes[token].label,
                },
            )
        if Outcome.PENDING in outcomes.values():
            raise busy()  # the rest is done; the retry finds it so
        return JSONResponse(list(feedback.values()), headers={"cache-control": "no-store"})


def _one(request: Request, name: str) -> str:
    values = request.headers.getlist(name)
    return values[0].strip() if len(values) == 1 else ""
