"""Counting Redis commands with ``INFO commandstats`` around a measured window.

``CONFIG RESETSTAT`` zeroes the counters; ``INFO commandstats`` reads them. Two
corrections turn the raw counts into what a client sent:

* the bench's own commands (``CONFIG``, ``INFO``, ``CLIENT``, ``ACL``) are dropped;
* Redis also counts the commands a Lua script runs. The only script in a gateway's
  windows is the key lookup (:data:`policies.storage.lua.LOOKUP`): one ``HGET`` per run, plus
  ``HMGET`` and ``SMEMBERS`` when the key exists. Those are subtracted, so ``evalsha`` is
  the number of lookups (one round trip each) and ``hget`` the version checks' ``HGET``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

BENCH_OWN = frozenset({"config", "info", "client", "acl", "script"})
LOOKUPS = ("evalsha", "eval")
# Sent by the gateway between requests, never because of one (see gateway.runtime.runtime):
# version checks, last-used flushes, catalog reloads, pub/sub health checks.
PERIODIC = frozenset({"hget", "hset", "get", "ping", "subscribe"})


def raw_stats(client: redis.Redis) -> dict[str, int]:
    info = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()}


@dataclass
class Commands:
    """Client-sent commands of one window, by lowercase name."""

    calls: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_raw(cls, raw: dict[str, int]) -> Commands:
        calls = {k: v for k, v in raw.items() if k.split("|")[0] not in BENCH_OWN}
        scripts = sum(calls.get(k, 0) for k in LOOKUPS)
        if scripts:
            calls["hget"] = max(0, calls.get("hget", 0) - scripts)
            calls.pop("hmget", None)
            calls.pop("smembers", None)
        return cls({k: v for k, v in calls.items() if v})

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def lookups(self) -> int:
        return sum(self.calls.get(k, 0) for k in LOOKUPS)

    @property
    def periodic(self) -> int:
        return sum(v for k, v in self.calls.items() if k in PERIODIC)

    @property
    def other(self) -> int:
        return self.total - self.lookups - self.periodic

    def describe(self) -> str:
        if not self.calls:
            return "none"
        return ", ".join(f"{k.upper()} {v}" for k, v in sorted(self.calls.items()))


class Window:
    """``with Window(client) as w: ...`` then ``w.commands``."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.commands = Commands()

    def __enter__(self) -> Window:
        self.client.config_resetstat()
        return self

    def __exit__(self, *exc: object) -> None:
        self.commands = Commands.from_raw(raw_stats(self.client))
