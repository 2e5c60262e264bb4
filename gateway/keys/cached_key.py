"""One cached key: everything a request needs to decide, precomputed from its policy.

Built once per lookup from a :class:`policies.KeyPolicy`, shared by every request with the
same key until evicted, so a decision is a few attribute reads and set probes: blocked
actions as ``"module.functionality"`` strings, allowed origins normalised, the
``request.user``/``request.auth`` objects ready to hand over.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import Any

from gateway.keys.identity import SCOPE_NAMES, KeyUser, credentials
from gateway.keys.networks import AllowedNetworks
from gateway.limits.limiter import LimitPlan
from policies.catalog.rules import WILDCARD
from policies.keys.keyformat import KeyKind
from policies.origins import normalize_origin
from policies.storage.values import KeyPolicy
from policies.usage.request_counts import PUBLISHABLE, SDK

_NO_RULES: frozenset[str] = frozenset()  # a fresh empty frozenset is 216 bytes; share one
_SUBJECTS = {KeyKind.PUBLISHABLE: PUBLISHABLE, KeyKind.SDK: SDK}
_ALLOWED = {kind: ("allowed", name) for kind, name in SCOPE_NAMES.items()}


class CachedKey:
    """One key's decision inputs, precomputed so a request does only set probes."""

    __slots__ = (
        "allowed",
        "auth",
        "blocked",
        "blocked_modules",
        "by_origin",
        "cache_key",
        "conditional",
        "expires",
        "fetched",
        "hits",
        "hits_flushed",
        "key_id",
        "kind",
        "kind_name",
        "limits",
        "networks",
        "origins",
        "restricted",
        "scopes",
        "subject",
        "tally",
        "used",
        "user",
        "version",
        "workspace_id",
    )

    def __init__(self, cache_key: bytes, policy: KeyPolicy, fetched: float) -> None:
        self.cache_key = cache_key
        # One string per workspace, however many of its keys are cached (the store's reply
        # gives each lookup its own copy).
        self.workspace_id = workspace_id = sys.intern(policy.workspace_id)
        self.kind = kind = policy.kind
        self.kind_name = SCOPE_NAMES[kind]
        self.allowed = _ALLOWED[kind]  # its metrics counter
        self.key_id = policy.key_id
        self.version = policy.version
        self.expires = policy.expires
        self.restricted = kind is not KeyKind.SDK
        # The key's rules as two probes of plain strings: "module.functionality" blocks
        # one action, a module in blocked_modules (a "module:*" rule) all. Both empty
        # (and shared) when no rule applies: the request path then skips the probes.
        rules = policy.rules if self.restricted else ()
        self.blocked = frozenset(f"{r.module}.{r.functionality}" for r in rules) or _NO_RULES
        self.blocked_modules = (
            frozenset(r.module for r in rules if r.functionality == WILDCARD) or _NO_RULES
        )
        self.origins = (
            frozenset(normalize_origin(o) for o in policy.origins)
            if kind is KeyKind.PUBLISHABLE and policy.origins
            else None
        )
        # Allow-lists (policies.restrictions) of the SDK key and tokens, None when it has
        # none: the scopes as a frozenset an action's grants are probed against, the
        # networks precompiled (gateway.keys.networks).
        allow = kind is not KeyKind.PUBLISHABLE
        self.scopes = frozenset(policy.scopes) if allow and policy.scopes is not None else None
        self.networks = (
            AllowedNetworks(policy.networks) if allow and policy.networks is not None else None
        )
        # Anything to test beyond the route being in the catalog: lets the request path
        # skip every test for most keys.
        self.conditional = bool(
            self.expires is not None
            or self.origins
            or self.blocked
            or self.scopes is not None
            or self.networks is not None
        )
        self.user = KeyUser(workspace_id, kind, policy.key_id, policy.name)
        self.auth = credentials(kind)
        # When it was looked up (the cache's timer): the stale bound counts from here.
        self.fetched = fetched
        self.used = False  # allowed at its lookup, not yet flushed (see gateway.usage.last_used)
        self.hits = 0  # allowed requests served from the cache (see gateway.metrics)
        self.hits_flushed = 0  # hits already seen by the last-used flush (usage.last_used)
        # Usage counts (gateway.usage.request_counts): allowed requests by action since the
        # last flush, and for the publishable key by (action, raw origin); whose counts they are.
        self.tally: defaultdict[Any, int] = defaultdict(int)
        self.by_origin = kind is KeyKind.PUBLISHABLE
        self.subject = _SUBJECTS.get(kind, policy.key_id)
        # Its owner's rate-limit counters (gateway.limits.limiter), set by the resolver: None for
        # a key without limits, which then pays one attribute test.
        self.limits: LimitPlan | None = None
