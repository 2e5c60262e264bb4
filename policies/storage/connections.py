"""Redis clients from a URL, for both sides, with replies decoded as text.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel

from policies.errors import ConfigError

SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "redis+sentinel")


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    username: str | None = None
    password: str | None = None
    service: str = ""
    db: int = 0


def parse_url(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ConfigError(
            f"Redis URL must start with one of {', '.join(s + '://' for s in SCHEMES)}"
        )
    if parts.scheme in ("redis", "rediss", "unix"):
        return Target(parts.scheme, url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    nodes = []
    for item in hosts.split(","):
        host, _, port = item.rpartition(":")
        if not host or not (port.isascii() and port.isdigit()):
            raise ConfigError(f"{parts.scheme} URL: {item!r} is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    path = [p for p in parts.path.split("/") if p]
    if parts.scheme == "redis+sentinel" and not path:
        raise ConfigError("redis+sentinel URL needs the service name: .../mymaster[/db]")
    db = path[1] if len(path) > 1 else "0"
    if not (db.isascii() and db.isdigit()):
        raise ConfigError(f"Redis database must be a number, not {db!r}")
    return Target(
        parts.scheme,
        url,
        tuple(nodes),
        unquote(username) or None,
        unquote(password) or None,
        path[0] if path else "",
        int(db),
    )


def masked(url: str) -> str:
    """``url`` fit to show: its password (in the user part or a ``password=`` query
    argument, both of which redis-py reads) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unparsable URL)"
    credentials, at, hosts = parts.netloc.rpartition("@")
    if at and ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    query = [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query, True)]
    netloc = f"{credentials}@{hosts}" if at else hosts
    shown = f"{parts.scheme}://{netloc}{parts.path}"  # urlunsplit drops unix:///'s "//"
    return f"{shown}?{urlencode(query, safe='*')}" if query else shown


def unreachable(url: str, embedded: str, reason: str = "") -> str:
    """What to say when nothing answers at ``url``: which Redis (password masked) and the
    two ways out; ``embedded`` says how to run a local one instead."""
    why = f" ({reason})" if reason else ""
    return (
        f"Redis is unavailable at {masked(url)}{why}: start Redis at that URL (or set "
        f"KEYSTILE_REDIS_URL to one that runs), or {embedded}"
    )


# A quiet connection (a subscription above all) hears nothing for long stretches: redis-py
# PINGs it after this long so that one that died without a word is found.
HEALTH_CHECK_SECONDS = 30


def _options(timeout: float) -> dict[str, Any]:
    return {"decode_responses": True, "socket_timeout": timeout, "socket_connect_timeout": timeout}


def _client(url: str, timeout: float, flavour: Any) -> Any:
    """One body for both flavours: ``flavour`` is the redis or redis.asyncio module."""
    target = parse_url(url)
    options = _options(timeout)
    options.update(username=target.username, password=target.password)
    try:
        if target.scheme == "redis+cluster":
            nodes = [flavour.cluster.ClusterNode(h, p) for h, p in target.nodes]
            # Used through the same command surface as a plain client (see policies.storage.driver).
            return flavour.cluster.RedisCluster(startup_nodes=nodes, **options)
        if target.scheme == "redis+sentinel":
            sentinel = flavour.sentinel.Sentinel(list(target.nodes), socket_timeout=timeout)
            return sentinel.master_for(target.service, db=target.db, **options)
        del options["username"], options["password"]  # the URL carries them
        return flavour.Redis.from_url(url, health_check_interval=HEALTH_CHECK_SECONDS, **options)
    except ValueError as exc:
        raise ConfigError(f"bad Redis URL: {exc}") from None


def sync_client(url: str, *, timeout: float = 5.0) -> redis.Redis:
    client: redis.Redis = _client(url, timeout, redis)
    return client


def async_client(url: str, *, timeout: float = 0.5) -> redis.asyncio.Redis:
    client: redis.asyncio.Redis = _client(url, timeout, redis.asyncio)
    return client
