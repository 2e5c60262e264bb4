"""Redis clients from a URL, for both sides, with replies decoded as text.

``redis://``, ``rediss://`` (TLS) and ``unix://`` are accepted; anything else is a clear
configuration error at start-up rather than a confusing failure on first use.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio

from policies.errors import ConfigError

SCHEMES = ("redis", "rediss", "unix")


def _options(url: str, timeout: float) -> dict[str, Any]:
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise ConfigError(
            f"Redis URL must start with one of {', '.join(s + '://' for s in SCHEMES)}"
        )
    return {
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 30,
    }


def sync_client(url: str, *, timeout: float = 5.0) -> redis.Redis:
    try:
        return redis.Redis.from_url(url, **_options(url, timeout))
    except ValueError as exc:
        raise ConfigError(f"bad Redis URL: {exc}") from None


def async_client(url: str, *, timeout: float = 0.5) -> redis.asyncio.Redis:
    try:
        return redis.asyncio.Redis.from_url(url, **_options(url, timeout))
    except ValueError as exc:
        raise ConfigError(f"bad Redis URL: {exc}") from None
