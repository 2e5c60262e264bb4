"""Long lists a page at a time: a workspace's tokens, and its whole retained audit log.

Tokens live in one hash per workspace (``ks:{W}:tokens``), so a page reads the hash in one
round trip and filters, sorts and slices here: what the admin's page and the CLI then hold
and render is one page, whatever the workspace holds (measured in ``bench/token_page.py``).

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from policies.listing import AuditPage, AuditQuery, Page, TokenQuery
from policies.operations.audit import decode_entry
from policies.operations.base import Context, require_workspace
from policies.operations.tokens import list_tokens
from policies.storage import schema
from policies.storage.driver import Command, Operation
from policies.storage.values import AuditEntry, TokenInfo

BATCH = 500


def token_page(ctx: Context, ws: str, query: TokenQuery) -> Operation[Page[TokenInfo]]:
    """One page of the workspace's tokens matching ``query``, newest first."""
    everything = yield from list_tokens(ctx, ws)
    now = ctx.clock()
    matched = [info for info in everything if query.matches(info, now)]
    end = query.offset + query.limit
    return Page(matched[query.offset : end], len(matched), query.offset, query.limit)


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
