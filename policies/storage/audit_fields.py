"""The fields of an audit entry: every text bounded and free of control characters.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import itertools
from typing import Any

from policies.storage.schema import dump

MAX_AUDIT_TEXT = 200
MAX_AUDIT_DETAIL = 2000
MAX_DETAIL_DEPTH = 3  # levels of nesting kept in an audit detail


def _clean(value: str, limit: int = MAX_AUDIT_TEXT) -> str:
    """Audit text: control and other unprintable characters replaced, length bounded (cut
    first, so a megabyte costs no more than ``limit`` characters of work)."""
    cut = len(value) > limit
    value = "".join(c if c.isprintable() else "\ufffd" for c in value[: limit if cut else None])
    return value[: limit - 1] + "\u2026" if cut else value


def _clean_detail(value: Any, depth: int = 0) -> Any:
    """A detail bounded in width (32 items a level) and depth (``MAX_DETAIL_DEPTH``), so a
    deep or self-sharing structure costs at most 32 ** depth items before it is encoded."""
    if isinstance(value, str):
        return _clean(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= MAX_DETAIL_DEPTH:
        return "\u2026"
    if isinstance(value, dict):
        items = list(itertools.islice(value.items(), 32))
        return {_clean(str(k), 64): _clean_detail(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [_clean_detail(v, depth + 1) for v in value[:32]]
    return _clean(str(value)[: MAX_AUDIT_TEXT + 1])


def audit_fields(actor: str, action: str, ws: str, now: float, detail: dict[str, Any]) -> list[str]:
    """The fields of an audit entry: every text bounded and free of control characters,
    so an entry can neither forge lines where it is shown nor grow without limit."""
    encoded = dump(_clean_detail(detail))
    if len(encoded) > MAX_AUDIT_DETAIL:
        encoded = dump({"truncated": _clean(encoded, MAX_AUDIT_DETAIL // 2)})
    return [
        "ts",
        repr(now),
        "actor",
        _clean(actor if isinstance(actor, str) else str(actor)),
        "action",
        _clean(str(action), 64),
        "workspace",
        ws,
        "detail",
        encoded,
    ]
