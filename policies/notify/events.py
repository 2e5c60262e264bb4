"""Which audit actions notify, and the event each one becomes (never key material).

An event is derived from its audit entry's fields, in the step that writes the entry, so
a change and its notice are one atomic write. Its JSON is the Standard Webhooks payload
(``type``, ``timestamp``, ``data``) plus the ``id`` every delivery of it carries.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

LEAKED = "key.leaked"
RATE_LIMITED = "key.rate_limited"
EXPIRING = "token.expiring"
TEST = "webhook.test"
NOTIFIABLE = frozenset(
    {
        LEAKED,
        "sdk_key.revealed",
        "sdk_key.rolled",
        "sdk_key.grace_ended",
        "publishable_key.rotated",
        "token.created",
        "token.revoked",
        RATE_LIMITED,
        EXPIRING,
    }
)
SUMMARIES = {
    LEAKED: "a key was reported leaked",
    "sdk_key.revealed": "the SDK access key was revealed",
    "sdk_key.rolled": "the SDK access key was rolled",
    "sdk_key.grace_ended": "the previous SDK access key was refused before its grace ended",
    "publishable_key.rotated": "the publishable key was revoked and replaced",
    "token.created": "a token was created",
    "token.revoked": "a token was revoked",
    RATE_LIMITED: "a key was refused for its rate limit",
    EXPIRING: "a token expires within 7 days",
    TEST: "a test event",
}
MAX_EVENT_BYTES = 4096  # an audit detail is at most 2,000 characters: room to spare
_ID = re.compile(r"msg_[A-Za-z0-9_-]{1,64}")


class MalformedEvent(ValueError):
    """A queued event this module did not write (damaged, or put there by hand)."""


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_id() -> str:
    """A ``webhook-id``: unique per event, the same on every retry (receivers dedupe)."""
    return "msg_" + secrets.token_urlsafe(18)


def event(kind: str, ws: str, now: float, data: dict[str, Any]) -> str:
    """An event's stored JSON (bounded: the data is an audit detail, already bounded)."""
    body = {
        "id": new_id(),
        "type": kind,
        "timestamp": iso(now),
        "data": {"workspace_id": ws, **data},
    }
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) > MAX_EVENT_BYTES:  # cannot happen with bounded details; kept so
        body["data"] = {"workspace_id": ws, "truncated": True}
        text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    return text


def notice(fields: Sequence[str]) -> str:
    """The event of an audit entry (its fields,
    :func:`policies.storage.audit_fields.audit_fields`), or ``""`` when its action does not
    notify."""
    entry = dict(zip(fields[::2], fields[1::2], strict=True))
    action = entry.get("action", "")
    if action not in NOTIFIABLE:
        return ""
    detail = json.loads(entry.get("detail", "{}"))
    data = {"actor": entry.get("actor", ""), **(detail if isinstance(detail, dict) else {})}
    return event(action, entry.get("workspace", ""), float(entry.get("ts", "0")), data)


def parse(stored: str) -> dict[str, Any]:
    """A stored event, checked: :class:`MalformedEvent` unless it has the shape
    :func:`event` gives (an id fit for a header, a type, a timestamp, a data object)."""
    try:
        parsed = json.loads(stored)
    except (ValueError, RecursionError):
        raise MalformedEvent("the queued event is malformed (not JSON)") from None
    if (
        not isinstance(parsed, dict)
        or not isinstance(parsed.get("id"), str)
        or not _ID.fullmatch(parsed["id"])
        or not isinstance(parsed.get("type"), str)
        or not isinstance(parsed.get("timestamp"), str)
        or not isinstance(parsed.get("data"), dict)
    ):
        raise MalformedEvent("the queued event is malformed (not an event)")
    return parsed


def body(stored: str) -> tuple[str, bytes]:
    """(``webhook-id``, the body sent) of a stored event: the same bytes on every retry;
    :class:`MalformedEvent` for one :func:`event` did not write."""
    parsed = parse(stored)
    sent = {k: parsed[k] for k in ("type", "timestamp", "data")}
    return parsed["id"], json.dumps(sent, separators=(",", ":"), sort_keys=True).encode()
