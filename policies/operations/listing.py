"""Long lists a page at a time: a workspace's tokens, and its whole retained audit log.

Tokens live in one hash per workspace (``ks:{W}:tokens``) with a sorted index of their key
ids, newest first (:mod:`policies.operations.token_index`): a page is a range of the index
and the records it names, so it costs the same at 100 or 100,000 tokens; so does a filtered
page (name, key id or status), a range of the filters' indexes
(:mod:`policies.operations.token_filters`; measured in ``bench/token_page.py``).

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from typing import Any

from policies.listing import AuditPage, AuditQuery, Page, TokenQuery
from policies.operations.audit import decode_entry
from policies.operations.base import Context, require_workspace
from policies.operations.token_filters import filtered_page
from policies.operations.token_index import ensure_index
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.values import AuditEntry, TokenInfo

BATCH = 500


def _records(ws: str, key_ids: list[Any]) -> Operation[list[TokenInfo]]:
    """The tokens named, in that order (an id without a record is left out)."""
    if not key_ids:
        return []
    raws, used = yield Batch(
        (
            Command(("HMGET", schema.tokens(ws), *key_ids)),
            Command(("HMGET", schema.last_used(ws), *key_ids)),
        )
    )
    return [schema.decode_token(r, u)[0] for r, u in zip(raws, used, strict=True) if r is not None]


def tokens_by_id(ctx: Context, ws: str, key_ids: list[str]) -> Operation[list[TokenInfo]]:
    """The tokens named (one read, whatever the workspace holds); unknown ids left out."""
    return (yield from _records(require_workspace(ws), list(key_ids)))


def token_page(ctx: Context, ws: str, query: TokenQuery) -> Operation[Page[TokenInfo]]:
    """One page of the workspace's tokens matching ``query``, newest first."""
    if query.filtered:
        found = yield from filtered_page(ctx, ws, query)
        infos = yield from _records(ws, found.items)
        return Page(infos, found.total, found.offset, found.limit, found.unsearched)
    held = yield from ensure_index(ws)
    start, end = query.offset, query.offset + query.limit
    key_ids = yield Command(("ZRANGE", schema.token_index(ws), start, end - 1))
    return Page((yield from _records(ws, key_ids)), held, start, query.limit)


def audit_page(ctx: Context, ws: str, query: AuditQuery) -> Operation[AuditPage]:
    """Up to ``query.limit`` entries matching ``query``, newest first, older than
    ``query.before``; with the cursor of the next page when more match."""
    key = schema.audit(require_workspace(ws))
    cursor = query.before or "+"
    found: list[AuditEntry] = []
    while True:
        # Inclusive of the cursor (exclusive ranges need Redis 6.2): it is skipped below.
        rows = yield Command(("XREVRANGE", key, cursor, "-", "COUNT", BATCH))
        for entry_id, raw in rows:
            if schema.text(entry_id) == cursor:
                continue
            entry = decode_entry(entry_id, raw, ws)
            if not query.matches(entry):
                continue
            if len(found) == query.limit:  # one more than the page: there is an older page
                return AuditPage(found, found[-1].entry_id)
            found.append(entry)
        if len(rows) < BATCH:
            return AuditPage(found, None)
        cursor = schema.text(rows[-1][0])
