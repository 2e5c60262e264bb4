"""The gateway's options: validated once, at construction, with messages for the operator.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, TypedDict

from gateway.keys.client_address import networks_of
from policies.errors import ConfigError

Unmatched = Literal["deny", "allow"]
WebSocketDenial = Literal["close", "http"]
MethodOverride = Literal["refuse", "decide"]
ForwardedHeader = Literal["x-forwarded-for", "forwarded"]

# RFC 9110 token characters: what an HTTP field name may hold (ASGI gives them lowercased).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")


class GatewayOptions(TypedDict, total=False):
    """The keyword options of :class:`KeyGateMiddleware`, for type checkers: the fields of
    :class:`GatewayConfig`, names and types (a test holds the two equal)."""

    bearer_header: str | None
    key_header: str | None
    exempt_paths: Collection[str]
    exempt_catalogued: bool
    unmatched: Unmatched
    pass_preflight: bool
    websocket_denial: WebSocketDenial
    method_override: MethodOverride
    max_path_length: int
    cache_size: int
    cache_ttl: float
    negative_cache_size: int
    negative_ttl: float
    check_interval: float
    stale_bound: float
    retry_after: int
    touch_interval: float
    usage_counts: bool
    limit_sync_interval: float
    reconnect_min: float
    reconnect_max: float
    start_timeout: float
    store_timeout: float
    trusted_proxies: Collection[str]
    forwarded_header: ForwardedHeader


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """The gateway's options, checked and normalised: the one place each is declared."""

    bearer_header: str | None = "authorization"  # "Bearer <key>" header (None: off)
    key_header: str | None = "x-api-key"  # bare key header (None: off)
    exempt_paths: Collection[str] = ()  # no key needed; a final "*": the segments below
    exempt_catalogued: bool = False  # may an exempt path cover a catalogued route
    unmatched: Unmatched = "deny"  # routes outside the catalog (or "allow")
    pass_preflight: bool = True  # key-less CORS preflights may reach the app
    websocket_denial: WebSocketDenial = "close"  # or "http": the problem itself
    # X-HTTP-Method-Override & co. or ?_method= on a keyed request: a 400 (or "decide": the
    # decision is made for the overriding method, as an app that honours it will run it)
    method_override: MethodOverride = "refuse"
    max_path_length: int = 4096  # longer request paths (decoded, characters): a 414
    cache_size: int = 10_000  # cached keys, least recently used out first
    cache_ttl: float = 300.0  # a key is looked up again after this, used or not
    negative_cache_size: int = 10_000  # cached unknown keys
    negative_ttl: float = 5.0  # unknown keys remembered this long
    check_interval: float = 0.5  # version check period
    stale_bound: float = 30.0  # Redis away: cached keys serve this long
    retry_after: int = 2  # Retry-After of 503 answers
    touch_interval: float = 5.0  # last-used and usage counts flush period
    usage_counts: bool = True  # count requests per key, action, outcome, origin
    limit_sync_interval: float = 0.2  # rate-limit counters' sync with Redis, per process
    reconnect_min: float = 0.05  # first backoff (the first retry is immediate)
    reconnect_max: float = 2.0  # longest reconnect delay
    start_timeout: float = 2.0  # start-up wait for the subscription
    store_timeout: float = 0.5  # longest wait for one store call (then 503)
    # Keys restricted to networks: the client is the ASGI peer, or, from a peer in these
    # CIDR ranges, the right-most untrusted address of forwarded_header (key networks only).
    trusted_proxies: Collection[str] = ()
    forwarded_header: ForwardedHeader = "x-forwarded-for"  # or "forwarded" (RFC 7239)

    def __post_init__(self) -> None:
        headers = [
            _header(self.bearer_header, "bearer_header"),
            _header(self.key_header, "key_header"),
        ]
        if headers == [None, None]:
            raise ConfigError("bearer_header and key_header cannot both be disabled")
        if headers[0] is not None and headers[0] == headers[1]:
            raise ConfigError("bearer_header and key_header must be different headers")
        object.__setattr__(self, "bearer_header", headers[0])
        object.__setattr__(self, "key_header", headers[1])
        object.__setattr__(self, "exempt_paths", _paths(self.exempt_paths))
        _choice(self.unmatched, "unmatched", ("deny", "allow"))
        _choice(self.websocket_denial, "websocket_denial", ("close", "http"))
        _choice(self.method_override, "method_override", ("refuse", "decide"))
        _choice(self.forwarded_header, "forwarded_header", ("x-forwarded-for", "forwarded"))
        object.__setattr__(
            self, "trusted_proxies", tuple(map(str, networks_of(self.trusted_proxies)))
        )
        for name in ("pass_preflight", "exempt_catalogued", "usage_counts"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false")
        for name in ("max_path_length", "cache_size", "negative_cache_size", "retry_after"):
            _positive(getattr(self, name), name, integer=True)
        for name in (
            "cache_ttl",
            "negative_ttl",
            "check_interval",
            "stale_bound",
            "touch_interval",
            "limit_sync_interval",
            "reconnect_min",
            "reconnect_max",
            "start_timeout",
            "store_timeout",
        ):
            _positive(getattr(self, name), name)
        if self.reconnect_min > self.reconnect_max:
            raise ConfigError("reconnect_min must not exceed reconnect_max")
        if self.stale_bound < self.check_interval:
            # Otherwise a healthy store would let entries go stale between two checks.
            raise ConfigError("stale_bound must be at least check_interval")
        if self.cache_ttl < self.stale_bound:
            raise ConfigError(
                "cache_ttl must be at least stale_bound (an entry must outlive its stale bound)"
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> GatewayConfig:
        """Keyword options (the middleware's), unknown names refused by name."""
        unknown = sorted(set(options) - set(cls.option_names()))
        if unknown:
            raise ConfigError(
                f"unknown gateway option(s): {', '.join(unknown)}; known: "
                f"{', '.join(cls.option_names())}"
            )
        return cls(**options)

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> dict[str, Any]:
        """Options from a ``[gateway]`` table, as keyword arguments (checked later, in full).

        Unknown names fail here, so a typo is not silently ignored; TOML has no null, so an
        empty string disables a header.
        """
        known = cls.option_names()
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown option(s) in [gateway]: {', '.join(unknown)}; known: {', '.join(known)}"
            )
        options = dict(table)
        for name in ("bearer_header", "key_header"):
            if options.get(name) == "":
                options[name] = None
        return options


def _header(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HEADER_NAME.fullmatch(value.lower()):
        raise ConfigError(f"{what} must be an HTTP header name, like 'x-api-key'")
    return value.lower()


def _paths(value: object) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigError("exempt_paths must be a list of paths (like ['/health']), not a string")
    paths = tuple(value)
    for path in paths:
        if (
            not isinstance(path, str)
            or not path.startswith("/")
            or "*" in path[:-1]
            or any(ord(c) < 0x21 or ord(c) == 0x7F for c in path)
        ):
            raise ConfigError(
                f"exempt path {path!r} must start with '/' and hold no space or control "
                "character; a final '*' exempts the path segments below it"
            )
    return paths


def _choice(value: object, what: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{what} must be one of {', '.join(map(repr, allowed))}, not {value!r}")


def _positive(value: object, what: str, *, integer: bool = False) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if integer:
        number = number and isinstance(value, int)
    if not (number and isinstance(value, int | float) and math.isfinite(value) and value > 0):
        kind = "a positive whole number" if integer else "a positive number of seconds"
        raise ConfigError(f"{what} must be {kind}, not {value!r}")
