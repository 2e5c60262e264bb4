"""The gateway's lookup reply (:data:`policies.storage.lua.LOOKUP`) as a :class:`KeyPolicy`.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import json
from typing import Any

from policies import restrictions
from policies.catalog.rules import decode_all
from policies.keys.keyformat import KeyKind
from policies.limits.rate_limits import LimitError, Limits
from policies.storage.schema import text
from policies.storage.values import KeyPolicy


def decode_lookup(workspace_id: str, reply: Any) -> KeyPolicy | None:
    """Turn the LOOKUP script's reply into a :class:`KeyPolicy` (None: no such key)."""
    if not reply:
        return None
    raw_record, version, origins, members, raw_limits = reply[:5]
    record = json.loads(text(raw_record))
    kind = KeyKind(record["kind"])
    if kind is KeyKind.TOKEN:
        rule_set = decode_all(record.get("rules", ()))
    else:
        rule_set = decode_all(text(m) for m in members)
    origins_text = text(origins)
    expires = record.get("expires")
    return KeyPolicy(
        workspace_id=workspace_id,
        kind=kind,
        key_id=record["kid"],
        version=int(text(version)),
        expires=float(expires) if isinstance(expires, int | float) else None,
        rules=rule_set,
        origins=tuple(json.loads(origins_text)) if origins_text else (),
        name=record.get("name"),
        limits=_limits(raw_limits),
        scopes=restrictions.stored(record, "scopes"),
        networks=restrictions.stored(record, "networks"),
    )


def _limits(raw: Any) -> Limits | None:
    if not raw:
        return None
    try:
        return Limits.decode(text(raw)) or None
    except LimitError:  # written by hand past the checks: better unlimited than unusable
        return None
