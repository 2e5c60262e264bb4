"""The Tokens page's filters as indexes: a filtered page costs the same at 100 or 100,000
tokens and finds any token, however old.

- **Status**: one sorted set per status (``ks:{W}:tokens_active|expired|revoked``), scored
  as the token index (newest first). A create files the token as active and a revoke moves
  it, in their own APPLY step; an expiry has no writer, so active tokens that expire are
  also kept by expiry (``tokens_expiry``) and moved to ``expired`` by the next filtered
  read (:func:`expire_due`: each token moves once).
- **Text**: ``tokens_terms``, one score, read by lex: ``n\\0<words>\\0<key id>`` for each
  word of the casefolded name (the name from that word on) and ``k\\0<key id>``. The text
  finds tokens whose key id, or one of whose name's words, starts with it, in name order.
- **Both**: the text's matches in name order, kept if of that status, ``SEARCH_WINDOW``
  of them at most (the page says how many it left unsearched).

A deployment from before these indexes (or a restore, which brings tokens only) has them
built from the tokens hash by the first filtered read, in steps of ``STEP`` tokens
(:func:`ensure_filters`). Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from policies.listing import TOKEN_STATUSES, Page, TokenQuery
from policies.operations.base import Context, Op
from policies.operations.token_index import ensure_index, score, stored_score
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.lua_tokens import EXPIRE, FILE, SEARCH
from policies.storage.scripting import Script
from policies.storage.values import TokenInfo
from policies.times import is_time

STEP = 1000  # tokens filed, or moved to expired, per script call
SEARCH_WINDOW = 5000  # text matches a text-and-status page reads at most
_WORD = re.compile(r"\w+")
_TOP = b"\xff"  # above every UTF-8 byte: the end of a lex prefix range


def terms(name: str, key_id: str) -> list[str]:
    """The search terms of a token (see the module's docstring)."""
    folded = name.casefold()
    found = {f"n\0{folded[m.start() :]}\0{key_id}" for m in _WORD.finditer(folded)}
    return [f"k\0{key_id}", *sorted(found)]


def _keys(ws: str) -> tuple[str, ...]:
    return (
        schema.tokens(ws),
        schema.token_index(ws),
        *(schema.token_status(ws, status) for status in ("active", "expired", "revoked")),
        schema.token_expiry(ws),
        schema.token_terms(ws),
    )


def create_ops(ws: str, info: TokenInfo) -> list[Op]:
    """APPLY steps filing a new token: active (and its expiry), its terms."""
    ops: list[Op] = [("ZADD", schema.token_status(ws, "active"), info.key_id, score(info.created))]
    if info.expires is not None:
        ops.append(("ZADD", schema.token_expiry(ws), info.key_id, repr(float(info.expires))))
    ops += [("ZADD", schema.token_terms(ws), term, "0") for term in terms(info.name, info.key_id)]
    return ops


def revoke_ops(ws: str, info: TokenInfo) -> list[Op]:
    """APPLY steps moving a token to the revoked set."""
    kid = info.key_id
    return [
        ("ZREM", schema.token_status(ws, "active"), kid, ""),
        ("ZREM", schema.token_status(ws, "expired"), kid, ""),
        ("ZREM", schema.token_expiry(ws), kid, ""),
        ("ZADD", schema.token_status(ws, "revoked"), kid, score(info.created)),
    ]


def _file(ws: str, now: float, pairs: list[tuple[str, str]]) -> Script:
    items: list[list[Any]] = []
    for kid, raw in pairs:
        try:
            data = json.loads(raw)
            info = TokenInfo(kid, str(data.get("name", "")), 0, data.get("expires"), None)
            revoked = data.get("revoked") is not None
        except (ValueError, AttributeError):
            info, revoked = TokenInfo(kid, "", 0, None, None), False
        status = "revoked" if revoked else info.status(now)
        expires = repr(float(info.expires)) if is_time(info.expires) else ""
        items.append([kid, status, stored_score(raw), expires, terms(info.name, kid)])
    return FILE.call(_keys(ws), items=items)


def ensure_filters(ctx: Context, ws: str) -> Operation[int]:
    """How many tokens the workspace holds, its filter indexes complete and its due expiries
    moved first. The statuses' sets together hold every token once, so a sum short of the
    hash means a build (or a restore's) is owed; it files every token, each step atomic
    with the writes (a token filed twice is filed the same). Costs four O(1) reads when
    complete, and the expiries that came due."""
    held = yield from ensure_index(ws)
    sizes = yield Batch(
        tuple(Command(("ZCARD", schema.token_status(ws, s))) for s in TOKEN_STATUSES)
    )
    now = ctx.clock()
    if sum(int(n) for n in sizes) != held:
        cursor = "0"
        while True:
            cursor, batch = yield Command(("HSCAN", schema.tokens(ws), cursor, "COUNT", STEP))
            pairs = schema.pairs(batch)
            if pairs:
                yield _file(ws, now, pairs)
            if schema.text(cursor) == "0":
                break
    yield from expire_due(ws, now)
    return held


def expire_due(ws: str, now: float) -> Operation[None]:
    """Move the active tokens whose expiry has come to the expired set."""
    while int((yield EXPIRE.call(_keys(ws), now=repr(now), step=STEP))) == STEP:
        pass


def _lex_range(prefix: str) -> tuple[bytes, bytes]:
    start = prefix.encode()
    return b"[" + start, b"[" + start + _TOP


def filtered_page(ctx: Context, ws: str, query: TokenQuery) -> Operation[Page[str]]:
    """The key ids of a filtered page, newest first for a status, by name for a text."""
    yield from ensure_filters(ctx, ws)
    start, limit = query.offset, query.limit
    if not query.text:
        status = schema.token_status(ws, str(query.status))
        total, kids = yield Batch(
            (
                Command(("ZCARD", status)),
                Command(("ZRANGE", status, start, start + limit - 1)),
            )
        )
        return Page([schema.text(k) for k in kids], int(total), start, limit)
    ranges = (_lex_range(f"k\0{query.text}"), _lex_range(f"n\0{query.text.casefold()}"))
    if query.status is None:
        return (yield from _text_page(ws, ranges, start, limit))
    return (yield from _text_and_status_page(ws, ranges, str(query.status), start, limit))


def _kid(term: Any) -> str:
    return schema.text(term).rsplit("\0", 1)[-1]


def _text_page(
    ws: str, ranges: tuple[tuple[bytes, bytes], ...], start: int, limit: int
) -> Operation[Page[str]]:
    """Key id matches first, then name matches: two lex ranges read as one list."""
    key = schema.token_terms(ws)
    counts = yield Batch(tuple(Command(("ZLEXCOUNT", key, low, high)) for low, high in ranges))
    kids: list[str] = []
    skip = start
    for (low, high), count in zip(ranges, counts, strict=True):
        count = int(count)
        if skip >= count:
            skip -= count
            continue
        want = limit - len(kids)
        found = yield Command(("ZRANGEBYLEX", key, low, high, "LIMIT", skip, want))
        kids += [_kid(t) for t in found]
        skip = 0
        if len(kids) >= limit:
            break
    return Page(list(dict.fromkeys(kids)), sum(int(c) for c in counts), start, limit)


def _text_and_status_page(
    ws: str, ranges: tuple[tuple[bytes, bytes], ...], status: str, start: int, limit: int
) -> Operation[Page[str]]:
    (low1, high1), (low2, high2) = ranges
    matched, left, kids = yield SEARCH.call(
        (schema.token_terms(ws), schema.token_status(ws, status)),
        low1=low1,
        high1=high1,
        low2=low2,
        high2=high2,
        window=SEARCH_WINDOW,
        start=start,
        limit=limit,
    )
    return Page([schema.text(k) for k in kids], int(matched), start, limit, int(left))
