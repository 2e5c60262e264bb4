"""One cached key: everything a request needs to decide, precomputed from its policy.

Built once per lookup from a :class:`policies.KeyPolicy`, shared by every request with the
same key until evicted, so a decision is a few attribute reads and set probes: blocked
actions as ``"module.functionality"`` strings, allowed origins normalised, the
``request.user``/``request.auth`` objects and the ``request.state`` entries ready to copy.
"""

from __future__ import annotations

import math

from gateway.identity import SCOPE_NAMES, KeyCredentials, KeyUser
from policies.keyformat import KeyKind
from policies.records import KeyPolicy
from policies.rules import WILDCARD


class CachedKey:
    """One key's decision inputs, precomputed so a request does only set probes."""

    __slots__ = (
        "allowed",
        "auth",
        "blocked",
        "blocked_modules",
        "cache_key",
        "expires",
        "expires_at",
        "fetched",
        "hits",
        "key_id",
        "kind",
        "kind_name",
        "origins",
        "restricted",
        "state",
        "trusted_until",
        "used",
        "user",
        "version",
        "workspace_id",
    )

    def __init__(self, cache_key: bytes, policy: KeyPolicy, fetched: float) -> None:
        self.cache_key = cache_key
        self.workspace_id = policy.workspace_id
        self.kind = policy.kind
        self.kind_name = SCOPE_NAMES[policy.kind]
        self.allowed = ("allowed", self.kind_name)  # its metrics counter
        self.key_id = policy.key_id
        self.version = policy.version
        self.expires = policy.expires
        self.restricted = policy.kind is not KeyKind.SDK
        rules = policy.rules if self.restricted else frozenset()
        # Same answers as KeyPolicy.blocks, as two probes of plain strings.
        self.blocked = frozenset(f"{r.module}.{r.functionality}" for r in rules)
        self.blocked_modules = frozenset(r.module for r in rules if r.functionality == WILDCARD)
        self.origins = (
            frozenset(normalize_origin(o) for o in policy.origins)
            if policy.kind is KeyKind.PUBLISHABLE and policy.origins
            else None
        )
        self.user = KeyUser(policy.workspace_id, policy.kind, policy.key_id, policy.name)
        self.auth = KeyCredentials(policy.kind)
        self.state = {
            "workspace_id": policy.workspace_id,
            "key_kind": policy.kind,
            "key_id": policy.key_id,
        }
        self.fetched = fetched
        self.trusted_until = math.inf  # fetched + stale_bound, set by DecisionCache.put
        self.expires_at = math.inf
        self.used = -1  # the cache epoch of its last allowed request (-1: never)
        self.hits = 0  # allowed requests served from the cache (see gateway.metrics)


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]``, lowercased, default port and trailing slash dropped."""
    scheme, sep, rest = origin.strip().partition("://")
    if not sep:
        return origin.strip().lower()
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rpartition("@")[2].lower()
    scheme = scheme.lower()
    if (scheme, host.rpartition(":")[2]) in (("https", "443"), ("http", "80")):
        host = host.rpartition(":")[0]
    return f"{scheme}://{host}"
