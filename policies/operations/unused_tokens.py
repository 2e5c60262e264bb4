"""The "unused for N days" view of a workspace's tokens, and its confirmed revoke.

A page is a range of the activity index (:mod:`policies.operations.token_activity`), each
entry checked against the tokens and last-use hashes: it costs the page (and any stale
entries it mends, at most ``READ_BOUND`` a call), never the workspace's size. The revoke
takes the key ids the admin saw and re-checks each against the same rule at that moment:
a token used since, revoked, expired or of another workspace is left alone and said so.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

from policies.errors import KeystileError
from policies.keys.crypto import KEY_ID_CHARS, KEY_ID_RE
from policies.lifetime import DAY, UnusedPage, UnusedRevocation, check_days
from policies.listing import MAX_PAGE
from policies.operations.base import Context, audit_call, require_workspace
from policies.operations.token_activity import activity, decode, ensure_activity, mend
from policies.operations.tokens import revoke_token
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.values import TokenInfo

READ_BOUND = 2000  # index entries one page may read (mended stale ones included)
_BATCH = 200


def _check_page(offset: int, limit: int) -> None:
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise KeystileError("the offset must be a whole number, 0 or more")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise KeystileError(f"a page holds 1 to {MAX_PAGE} items")


def _records(ws: str, key_ids: list[str]) -> Operation[list[TokenInfo | None]]:
    raws, used = yield Batch(
        (
            Command(("HMGET", schema.tokens(ws), *key_ids)),
            Command(("HMGET", schema.last_used(ws), *key_ids)),
        )
    )
    return [decode(r, u) for r, u in zip(raws, used, strict=True)]


def unused_page(
    ctx: Context, ws: str, days: int, *, offset: int = 0, limit: int = 50
) -> Operation[UnusedPage]:
    """Live tokens idle for ``days`` days or more (last active at or before now minus
    ``days`` days), the longest idle first."""
    days = check_days(days, "'unused for'")
    _check_page(offset, limit)
    now = ctx.clock()
    yield from ensure_activity(require_workspace(ws), now)
    key, cutoff = schema.token_activity(ws), now - days * DAY
    found: list[TokenInfo] = []
    stale: dict[str, float | None] = {}
    start, read = offset, 0
    while len(found) < limit and read < READ_BOUND:
        count = min(_BATCH, READ_BOUND - read)
        rows = yield Command(("ZRANGEBYSCORE", key, "-inf", repr(cutoff), "LIMIT", start, count))
        key_ids = [schema.text(r) for r in rows]
        if not key_ids:
            break
        start, read = start + len(key_ids), read + len(key_ids)
        for kid, info in zip(key_ids, (yield from _records(ws, key_ids)), strict=True):
            if info is None or info.status(now) != "active":
                stale[kid] = None  # revoked, expired or unreadable: never unused again
            elif activity(info) > cutoff:
                stale[kid] = activity(info)  # used since the index heard of it
            elif len(found) < limit:
                found.append(info)
        if len(key_ids) < count:
            break
    partial = len(found) < limit and read >= READ_BOUND
    total = yield Command(("ZCOUNT", key, "-inf", repr(cutoff)))
    yield from mend(ws, stale)
    return UnusedPage(days, cutoff, found, max(0, int(total) - len(stale)), offset, partial)


def _key_ids(key_ids: Iterable[str]) -> list[str]:
    if isinstance(key_ids, str):
        raise KeystileError("key ids come as a list")
    ids = list(dict.fromkeys(key_ids))
    if not ids or len(ids) > MAX_PAGE:
        raise KeystileError(f"name 1 to {MAX_PAGE} tokens to revoke")
    for kid in ids:
        if not isinstance(kid, str) or KEY_ID_RE.fullmatch(kid) is None:
            raise KeystileError(f"a key id is {KEY_ID_CHARS} hexadecimal characters")
    return ids


def revoke_unused(
    ctx: Context, ws: str, key_ids: Iterable[str], days: int, *, actor: str
) -> Operation[UnusedRevocation]:
    """Revoke those of ``key_ids`` that are, now, live tokens of ``ws`` unused for ``days``
    days; the others are skipped with their reason. Audited per token (``token.revoked``)
    and once for the whole (``tokens.unused_revoked``)."""
    days = check_days(days, "'unused for'")
    ids = _key_ids(key_ids)
    now = ctx.clock()
    cutoff = now - days * DAY
    infos = yield from _records(require_workspace(ws), ids)
    revoked: list[TokenInfo] = []
    skipped: list[tuple[str, str]] = []
    for kid, info in zip(ids, infos, strict=True):
        if info is None:
            skipped.append((kid, "not a token of this workspace"))
        elif info.status(now) != "active":
            skipped.append((kid, f"already {info.status(now)}"))
        elif activity(info) > cutoff:
            used = info.last_used is not None and activity(info) == info.last_used
            skipped.append((kid, f"{'used' if used else 'created'} less than {days} days ago"))
        else:
            revoked.append((yield from revoke_token(ctx, ws, kid, actor=actor)))
    detail = {
        "days": days,
        "revoked": len(revoked),
        "skipped": len(skipped),
        "key_ids": [t.key_id for t in revoked],
    }
    yield audit_call(ctx, ws, actor, "tokens.unused_revoked", detail)
    return UnusedRevocation(days, revoked, skipped)
