"""What the leak-report endpoints share: problem answers, a bounded body, a report's items.

Every refusal is RFC 9457 ``application/problem+json``; a body is read up to the configured
bound and no further (413); items are checked, all of them, before any is acted on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from policies import problems

MAX_TOKEN = 1000  # characters of a reported token (a Keystile key has 53)
MAX_TEXT = 2000  # characters of a url, location, type or source


class Refusal(Exception):
    """A request refused with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.headers = dict(headers or {})

    def response(self) -> Response:
        body = problems.document(self.code, self.status, self.title, self.detail)
        return Response(
            json.dumps(body, separators=(",", ":")),
            status_code=self.status,
            media_type=problems.MEDIA_TYPE,
            headers={"cache-control": "no-store", **self.headers},
        )


def invalid(detail: str) -> Refusal:
    return Refusal(400, "invalid_report", "Invalid report", detail)


def too_large(detail: str) -> Refusal:
    return Refusal(413, "report_too_large", "Report too large", detail)


def unavailable(detail: str, retry_after: int = 5) -> Refusal:
    return Refusal(
        503, "store_unavailable", "Try again shortly", detail, {"retry-after": str(retry_after)}
    )


def busy() -> Refusal:
    """A reported key another report is still handling: not "done" yet (Outcome.PENDING)."""
    return unavailable("A reported key is being handled by another request; try again.")


async def bounded_body(request: Request, limit: int) -> bytes:
    """The raw body, exactly as sent (signatures cover these bytes); 413 past ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large(f"The body is larger than {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"The body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def json_array(body: bytes, max_items: int) -> list[dict[str, Any]]:
    """The body as a JSON array of objects, at most ``max_items`` of them."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise invalid("The body is not JSON.") from None
    if not isinstance(data, list):
        raise invalid("The body must be a JSON array of reports.")
    if len(data) > max_items:
        raise too_large(f"At most {max_items} reports a request; this one holds {len(data)}.")
    if not all(isinstance(item, dict) for item in data):
        raise invalid("Each report must be a JSON object.")
    return data


def text(item: dict[str, Any], name: str, *, required: bool, limit: int = MAX_TEXT) -> str:
    value = item.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise invalid(f"Each report's {name!r} must be text (at most {limit} characters).")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: JSON allows it, Redis and Lua do not
        raise invalid(f"A report's {name!r} is not valid Unicode.") from None
    return value
