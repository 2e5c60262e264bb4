"""Notices given at most once, by the store's clock: a key refused for its rate limit (once
an hour), a token about to expire (once per token and expiry). Each is an audit entry and
its queued event, decided and written in one step (:data:`lua_notify.MARK`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from policies.errors import KeystileError
from policies.notify import events
from policies.operations.base import Context, notify_keys, require_workspace, wake
from policies.storage import schema
from policies.storage.audit_fields import audit_fields
from policies.storage.driver import Command, Operation
from policies.storage.lua_notify import MARK

HOUR = 3600.0
EXPIRY_NOTICE = 7 * 86400.0  # a token's expiry this close is noticed (once)


def _mark(
    ctx: Context,
    ws: str,
    field: str,
    value: str,
    within: str,
    action: str,
    actor: str,
    detail: dict[str, Any],
) -> Operation[bool]:
    fields = audit_fields(actor, action, ws, ctx.clock(), detail)
    keys = (schema.meta(ws), schema.audit(ws), *notify_keys(ws), schema.notify(ws, "marks"))
    reply = yield MARK.call(
        keys,
        field=field,
        value=value,
        within=within,
        maxlen=schema.AUDIT_MAXLEN,
        audit=fields,
        notice=events.notice(fields),
    )
    if int(reply) == 1:
        yield wake(ws)
    return int(reply) == 1


def note_rate_limited(
    ctx: Context, ws: str, key_id: str, kind: str, action: str | None = None
) -> Operation[bool]:
    """``key.rate_limited`` for a key, at most once an hour by the store's clock."""
    detail: dict[str, Any] = {"key_id": key_id, "kind": kind}
    if action:
        detail["action"] = action
    now = ctx.clock()
    return (
        yield from _mark(
            ctx,
            require_workspace(ws),
            f"rl:{key_id}",
            repr(now),
            repr(HOUR),
            events.RATE_LIMITED,
            "gateway",
            detail,
        )
    )


def note_rate_limits(ctx: Context, refused: Iterable[tuple[str, str, str]]) -> Operation[int]:
    """:func:`note_rate_limited` for each (workspace, key id, kind): the gateway's flush."""
    noted = 0
    for ws, key_id, kind in refused:
        noted += bool((yield from note_rate_limited(ctx, ws, key_id, kind)))
    return noted


def note_expiring(ctx: Context, within: float = EXPIRY_NOTICE) -> Operation[int]:
    """``token.expiring`` for every live token expiring within ``within`` seconds, once per
    token and expiry; marks of tokens gone or renewed are pruned. How many were noted."""
    now = ctx.clock()
    ids = sorted(schema.text(m) for m in (yield Command(("SMEMBERS", schema.WORKSPACES))))
    noted = 0
    for ws in ids:
        raw = yield Command(("HGETALL", schema.tokens(ws)))
        for kid, text in schema.pairs(raw):
            try:
                info, _ = schema.decode_token(text)
            except (ValueError, KeyError, TypeError, KeystileError):
                continue  # a damaged record: not this scan's to mend, nor to stop it
            expires = info.expires
            if info.revoked is not None or not isinstance(expires, int | float):
                continue
            if now < expires <= now + within:
                detail = {"key_id": kid, "name": info.name, "expires": expires}
                noted += bool(
                    (
                        yield from _mark(
                            ctx,
                            ws,
                            f"exp:{kid}",
                            repr(expires),
                            "",
                            events.EXPIRING,
                            "notify-worker",
                            detail,
                        )
                    )
                )
        yield from _prune_marks(ctx, ws, now)
    return noted


def _prune_marks(ctx: Context, ws: str, now: float) -> Operation[None]:
    """Rate-limit marks older than an hour and expiry marks of past expiries go."""
    raw = yield Command(("HGETALL", schema.notify(ws, "marks")))
    old = []
    for name, value in schema.pairs(raw):
        try:
            when = float(value)
        except ValueError:
            when = 0.0
        if (name.startswith("rl:") and now - when >= HOUR) or (
            name.startswith("exp:") and when <= now
        ):
            old.append(name)
    if old:
        yield Command(("HDEL", schema.notify(ws, "marks"), *old))
