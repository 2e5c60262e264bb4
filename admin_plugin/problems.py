"""Errors as RFC 9457 problem details (``application/problem+json``), never a traceback.

Every error a modal can meet has a ``title`` (what happened) and a ``detail`` written for
the admin (what to do), plus extension members the page uses (``attempts_left``,
``retry_after``). :func:`from_exception` maps Keystile's exceptions; anything unexpected
becomes a plain 500 problem, logged on the server with its traceback.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, json

from admin_plugin.mailer import MailError
from admin_plugin.otp_flow import BadCode
from policies.errors import (
    AlreadyExists,
    CatalogError,
    ConfigError,
    KeystileError,
    NotFound,
    StoreUnavailable,
    UnknownWorkspace,
)
from policies.lifetime import LifetimeRefused
from policies.otp.codes import OtpRejected, OtpThrottled
from policies.problems import (
    CODE_RE,
    MEDIA_TYPE,
    STORE_UNAVAILABLE,
    STORE_UNAVAILABLE_TITLE,
    document,
)

log = logging.getLogger(__name__)


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(self, status: int, code: str, title: str, detail: str, **extra: Any) -> None:
        if CODE_RE.fullmatch(code) is None:
            raise ValueError(f"a problem code is snake_case, not {code!r}")
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.extra = extra

    def response(self) -> Response:
        body = document(self.code, self.status, self.title, self.detail, **self.extra)
        response = Response(json.dumps(body), status=self.status, mimetype=MEDIA_TYPE)
        retry_after = self.extra.get("retry_after")
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response


def from_exception(exc: Exception) -> Problem:
    """The problem an exception stands for (the most specific match wins)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, OtpThrottled):
        return Problem(
            429,
            "otp_throttled",
            "Too many codes",
            str(exc),
            reason=exc.reason.value,
            retry_after=exc.retry_after,
        )
    if isinstance(exc, OtpRejected):
        return Problem(
            403,
            "otp_rejected",
            "Code not accepted",
            str(exc),
            reason=exc.reason.value,
            attempts_left=exc.attempts_left,
        )
    if isinstance(exc, BadCode):
        return Problem(400, "otp_malformed", "Not a code", str(exc))
    if isinstance(exc, MailError):
        return Problem(
            502, "mail_failed", "Email not sent", f"{exc} Try again later or tell your operator."
        )
    if isinstance(exc, StoreUnavailable):
        return Problem(
            503,
            STORE_UNAVAILABLE,
            STORE_UNAVAILABLE_TITLE,
            "The key store cannot be "
            "reached right now; nothing was changed. Try again in a moment.",
        )
    if isinstance(exc, UnknownWorkspace | NotFound):
        return not_found(str(exc))
    if isinstance(exc, AlreadyExists):
        return Problem(409, "already_exists", "Already exists", str(exc))
    if isinstance(exc, LifetimeRefused):
        return Problem(422, "token_lifetime", "Outside the token lifetime policy", str(exc))
    if isinstance(exc, CatalogError):
        return Problem(422, "not_in_catalog", "Not in the catalog", str(exc))
    if isinstance(exc, ConfigError):
        log.error("Keystile admin misconfigured: %s", exc)
        return Problem(500, "misconfigured", "Keystile is misconfigured", str(exc))
    if isinstance(exc, KeystileError):
        return Problem(400, "invalid", "Invalid request", str(exc))
    log.error("Keystile admin: unexpected error", exc_info=exc)
    return Problem(
        500, "internal", "Something went wrong", "An unexpected error occurred; it was logged."
    )


def bad_request(detail: str) -> Problem:
    return Problem(400, "invalid", "Invalid request", detail)


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", "Not allowed", detail)


def not_found(detail: str) -> Problem:
    return Problem(404, "not_found", "Not found", detail)
