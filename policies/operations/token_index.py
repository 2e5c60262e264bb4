"""The tokens' sorted index (``ks:{W}:token_index``): key ids newest first, so a page of
tokens is a range of it, whatever the workspace holds.

Each token's score is minus its creation time (a damaged stored time scores 0: last), and
ties sort by key id, the order the whole list always had. Written with the token (create),
by a restore, and built from the tokens hash where it is missing or short (a deployment
from before the index): see :func:`ensure_index`.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import json
from typing import Any

from policies.errors import UnknownWorkspace
from policies.operations.base import Op, require_workspace
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.times import is_time

_SCAN = 1000


def score(created: Any) -> str:
    """The index score of a token created at ``created``."""
    return repr(-float(created)) if is_time(created) else "0"


def index_op(ws: str, key_id: str, created: float) -> Op:
    """The APPLY step that lists a new token (see :func:`policies.operations.base.apply_call`)."""
    return ("ZADD", schema.token_index(ws), key_id, score(created))


def stored_score(raw: Any) -> str:
    """The score of a stored token record; one that cannot be read scores 0 (last)."""
    try:
        return score(json.loads(schema.text(raw)).get("created"))
    except (ValueError, AttributeError, TypeError):
        return "0"


def ensure_index(ws: str) -> Operation[int]:
    """How many tokens the workspace holds, its index complete first.

    Tokens are never removed from the hash, so an index as long as the hash is complete.
    One that is shorter (a deployment from before the index) is built from the hash in
    short steps (HSCAN, ZADD); concurrent builders and creators only ever add the same
    member with the same score, so they cannot disagree, and a build cut short is resumed
    by the next read. Costs two O(1) reads when the index is complete.
    """
    index, tokens = schema.token_index(require_workspace(ws)), schema.tokens(ws)
    exists, indexed, held = yield Batch(
        (
            Command(("EXISTS", schema.meta(ws))),
            Command(("ZCARD", index)),
            Command(("HLEN", tokens)),
        )
    )
    if not exists:
        raise UnknownWorkspace(ws)
    if int(indexed) >= int(held):
        return int(indexed)
    cursor = "0"
    while True:
        cursor, batch = yield Command(("HSCAN", tokens, cursor, "COUNT", _SCAN))
        pairs = schema.pairs(batch)
        if pairs:
            yield Command(("ZADD", index, *(x for k, v in pairs for x in (stored_score(v), k))))
        if schema.text(cursor) == "0":
            return int((yield Command(("ZCARD", index))))
