"""Invalidation events on the ``ks:events`` channel.

Published by the write scripts in :mod:`policies.storage.lua` (``"<workspace> <version>"``) and by
catalog saves (``"catalog <fingerprint>"``). Pub/sub is at most once: a reader must treat a
dropped subscription as "everything may have changed" and recheck versions.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.keys.keyformat import is_workspace_id
from policies.storage.schema import EVENTS_CHANNEL, text

__all__ = ["EVENTS_CHANNEL", "Event", "parse_event"]


@dataclass(frozen=True, slots=True)
class Event:
    workspace_id: str | None  # None: the catalog changed
    version: int | None = None
    catalog_fingerprint: str | None = None


def parse_event(message: object) -> Event | None:
    """Parse a channel message; None for anything not in the format (ignored, not fatal)."""
    subject, _, value = text(message).partition(" ")
    if subject == "catalog" and value:
        return Event(None, catalog_fingerprint=value)
    if is_workspace_id(subject) and value.isascii() and value.isdigit():
        return Event(subject, int(value))
    return None
