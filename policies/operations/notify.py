"""A workspace's notification settings: its webhook endpoint and secret, its mail
addresses, and what the Tokens page shows of its queue (:mod:`.notify_queue`).

The secret is generated here, returned once and stored encrypted (bound to its place,
like role keys); the audit names the endpoint's host, never its path (some endpoints
carry a token in it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.errors import MessageError
from email.headerregistry import Address
from typing import Any

from policies.errors import KeystileError, NotFound, UnknownWorkspace
from policies.notify import signing
from policies.notify.endpoints import EndpointPolicy, addresses, check_url
from policies.operations.base import Context, apply_call, audit_call, checked, require_workspace
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation

MAX_EMAILS = 20
CHANNELS = ("webhook", "mail")


def secret_context(ws: str) -> str:
    return f"{ws}/notify/webhook"


@dataclass(frozen=True, slots=True)
class ChannelState:
    status: str = ""  # the last attempt's outcome ("" none yet)
    error: str = ""
    at: float | None = None
    next_retry: float | None = None
    delivered: int = 0


@dataclass(frozen=True, slots=True)
class NotifySettings:
    url: str | None
    emails: tuple[str, ...]
    pending: int
    dropped: int
    dead: int
    channels: dict[str, ChannelState]
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    test: dict[str, str] = field(default_factory=dict)


def set_endpoint(
    ctx: Context, ws: str, url: str, policy: EndpointPolicy, *, actor: str
) -> Operation[str]:
    """Point the workspace's webhooks at ``url`` (checked: :mod:`policies.notify.endpoints`)
    with a new secret, returned once."""
    require_workspace(ws)
    parts = check_url(url, policy)
    addresses(parts, policy)
    secret = signing.new_secret()
    enc = ctx.keyring.encrypt(secret, secret_context(ws))
    ops = [
        ("HSET", schema.notify(ws), "url", url.strip()),
        ("HSET", schema.notify(ws), "secret", enc),
    ]
    detail = {"host": parts.hostname or ""}
    reply = yield apply_call(ctx, ws, ops, actor=actor, action="notify.endpoint_set", detail=detail)
    checked(reply, ws)
    return secret


def rotate_secret(ctx: Context, ws: str, *, actor: str) -> Operation[str]:
    """A new signing secret for the endpoint, returned once; the old one stops at once."""
    require_workspace(ws)
    secret = signing.new_secret()
    enc = ctx.keyring.encrypt(secret, secret_context(ws))
    ops = [("NEED", schema.notify(ws), "url", ""), ("HSET", schema.notify(ws), "secret", enc)]
    reply = yield apply_call(ctx, ws, ops, actor=actor, action="notify.secret_rotated", detail={})
    checked(reply, ws, missing="this workspace has no webhook endpoint")
    return secret


def remove_endpoint(ctx: Context, ws: str, *, actor: str) -> Operation[None]:
    require_workspace(ws)
    ops = [("HDEL", schema.notify(ws), "url", ""), ("HDEL", schema.notify(ws), "secret", "")]
    reply = yield apply_call(ctx, ws, ops, actor=actor, action="notify.endpoint_removed", detail={})
    checked(reply, ws)


def check_emails(emails: object) -> list[str]:
    """Bare addresses (no names, lists or header tricks), at most ``MAX_EMAILS``."""
    if isinstance(emails, str) or not isinstance(emails, list | tuple):
        raise KeystileError("mail addresses must be a list")
    cleaned: list[str] = []
    for item in emails:
        if not isinstance(item, str):
            raise KeystileError("mail addresses must be text")
        text = item.strip()
        if not text:
            continue
        if not _one_address(text):
            raise KeystileError(f"{text[:100]!r} is not one address such as ops@example.com")
        if text not in cleaned:
            cleaned.append(text)
    if len(cleaned) > MAX_EMAILS:
        raise KeystileError(f"at most {MAX_EMAILS} mail addresses")
    return cleaned


def _one_address(text: str) -> bool:
    if "," in text or not text.isprintable() or len(text) > 254:
        return False
    try:
        parsed = Address(addr_spec=text)
    except (ValueError, IndexError, MessageError):
        return False
    return bool(parsed.username and parsed.domain) and parsed.addr_spec == text


def set_emails(ctx: Context, ws: str, emails: object, *, actor: str) -> Operation[list[str]]:
    """Who gets the notifications by mail (``[]``: nobody)."""
    require_workspace(ws)
    cleaned = check_emails(emails)
    key = schema.notify(ws)
    op = ("HSET", key, "emails", json.dumps(cleaned)) if cleaned else ("HDEL", key, "emails", "")
    detail = {"count": len(cleaned)}
    reply = yield apply_call(ctx, ws, [op], actor=actor, action="notify.emails_set", detail=detail)
    checked(reply, ws)
    return cleaned


def endpoint(ctx: Context, ws: str) -> Operation[tuple[str, str]]:
    """(url, secret) of the workspace's endpoint; :class:`NotFound` when it has none."""
    url, enc = yield Command(("HMGET", schema.notify(require_workspace(ws)), "url", "secret"))
    if url is None or enc is None:
        raise NotFound("this workspace has no webhook endpoint")
    return schema.text(url), ctx.keyring.decrypt(schema.text(enc), secret_context(ws))


def record_test(ctx: Context, ws: str, outcome: str, ok: bool, *, actor: str) -> Operation[None]:
    """A test event's outcome: audited, and kept for the page."""
    now = repr(ctx.clock())
    fields = ("test:status", "ok" if ok else "failed", "test:error", outcome, "test:at", now)
    yield Command(("HSET", schema.notify(ws), *fields))
    yield audit_call(ctx, ws, actor, "notify.test_sent", {"outcome": outcome})


def settings(ctx: Context, ws: str) -> Operation[NotifySettings]:
    raw, pending, dead, exists = yield Batch(
        (
            Command(("HGETALL", schema.notify(require_workspace(ws)))),
            Command(("ZCARD", schema.notify(ws, "due"))),
            Command(("LRANGE", schema.notify(ws, "dead"), 0, 9)),
            Command(("EXISTS", schema.meta(ws))),
        )
    )
    if not exists:
        raise UnknownWorkspace(ws)
    found = dict(schema.pairs(raw))
    channels = {
        name: ChannelState(
            status=found.get(f"{name}:status", ""),
            error=found.get(f"{name}:error", ""),
            at=_time(found.get(f"{name}:at")),
            next_retry=_time(found.get(f"{name}:next")),
            delivered=_int(found.get(f"{name}:delivered")),
        )
        for name in CHANNELS
    }
    emails = _json(found.get("emails", "[]"))
    test = {k[5:]: v for k, v in found.items() if k.startswith("test:")}
    letters = (_json(schema.text(d)) for d in dead)
    return NotifySettings(
        url=found.get("url"),
        emails=tuple(str(e) for e in emails) if isinstance(emails, list) else (),
        pending=int(pending),
        dropped=_int(found.get("dropped")),
        dead=_int(found.get("dead")),
        channels=channels,
        dead_letters=[d for d in letters if isinstance(d, dict)],  # damaged ones left out
        test=test,
    )


def _json(text: str) -> Any:
    """A stored JSON value; None if damaged (a hand edit): the page shows the rest."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _time(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _int(text: str | None) -> int:
    return int(text) if text and text.isascii() and text.isdigit() else 0
