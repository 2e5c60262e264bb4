"""The values the store hands out: what a key is allowed, what a workspace holds.

Plain frozen dataclasses with no I/O; their JSON encoding lives in :mod:`policies.storage.schema`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from policies.catalog.rules import Rule
from policies.keys.keyformat import KeyKind
from policies.limits.rate_limits import Limits


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """Everything the gateway needs to decide about one presented key (one round trip).

    Data only: the gateway decides (:mod:`gateway.middleware`, from a
    :class:`gateway.keys.cached_key.CachedKey` built from this), and nothing else does.
    """

    workspace_id: str
    kind: KeyKind
    key_id: str
    version: int
    expires: float | None = None
    rules: frozenset[Rule] = frozenset()
    origins: tuple[str, ...] = ()
    name: str | None = None
    limits: Limits | None = None  # the owner's rate limits (policies.limits.rate_limits), if any
    # Allow-lists (policies.restrictions): None unrestricted; () allows nothing.
    scopes: tuple[str, ...] | None = None
    networks: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class CreatedWorkspace:
    workspace_id: str
    name: str
    publishable_key: str = field(repr=False)
    sdk_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class WorkspaceInfo:
    workspace_id: str
    name: str
    created: float
    version: int
    origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    key_id: str
    name: str
    created: float
    expires: float | None
    revoked: float | None
    rules: tuple[Rule, ...] = ()
    last_used: float | None = None
    scopes: tuple[str, ...] | None = None  # allow-lists (policies.restrictions); None: any
    networks: tuple[str, ...] | None = None

    def status(self, now: float) -> str:
        if self.revoked is not None:
            return "revoked"
        if isinstance(self.expires, int | float) and now >= self.expires:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class CreatedToken:
    token: str = field(repr=False)
    info: TokenInfo


@dataclass(frozen=True, slots=True)
class AuditEntry:
    entry_id: str
    time: float
    actor: str
    action: str
    workspace_id: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Restored:
    """What a restore did: the workspace, and what became of the backup's catalog."""

    workspace_id: str
    catalog: str
    catalog_applied: bool
    verified: bool
    exported_at: float | None = None  # None: a format-1 backup that does not say
    kept_revoked: int = 0  # credentials revoked here since the backup was made
    out_of_policy: int = 0  # live tokens beyond the backup's token lifetime policy (kept)
    notify: tuple[str, ...] = ()  # the notification channels restored (webhook, mail)
