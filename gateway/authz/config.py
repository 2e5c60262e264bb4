"""The authz service's own options, checked once at construction (``ConfigError``).

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from gateway.authz.dialects import DEFAULT_HEADERS, DIALECTS, DialectName
from gateway.authz.upstreams import UPSTREAMS, UpstreamName
from gateway.config import _HEADER_NAME
from policies.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MIN_SECRET = 32


@dataclass(frozen=True, slots=True)
class AuthzConfig:
    dialect: DialectName
    upstream: UpstreamName = "strict"
    trusted_proxies: Collection[str] = ()
    shared_secret_header: str = "x-keystile-authz-secret"  # noqa: S105 - a header name
    shared_secret: str | None = None
    method_header: str | None = None
    uri_header: str | None = None
    host_header: str | None = None
    path_prefix: str = ""
    workspace_header: str = "x-keystile-workspace"
    key_kind_header: str = "x-keystile-key-kind"
    key_id_header: str = "x-keystile-key-id"
    action_header: str = "x-keystile-action"

    def __post_init__(self) -> None:
        if self.dialect not in DIALECTS:
            raise ConfigError(f"dialect must be one of {', '.join(DIALECTS)}, not {self.dialect!r}")
        if self.upstream not in UPSTREAMS:
            raise ConfigError(
                f"upstream must be one of {', '.join(UPSTREAMS)}, not {self.upstream!r}"
            )
        self.networks()  # fails here on a bad entry
        if self.shared_secret is not None and (
            not isinstance(self.shared_secret, str) or len(self.shared_secret) < _MIN_SECRET
        ):
            raise ConfigError(f"shared_secret must be at least {_MIN_SECRET} characters")
        if not self.trusted_proxies and self.shared_secret is None:
            raise ConfigError(
                "the authz service needs trusted_proxies or shared_secret: otherwise anyone "
                "could use it to probe keys"
            )
        defaults = DEFAULT_HEADERS[self.dialect]
        for name, default in zip(
            ("method_header", "uri_header", "host_header"), defaults, strict=True
        ):
            value = getattr(self, name)
            if value is None:
                value = default
            elif value != "":  # "": not described (the check request's own Host)
                value = _header(value, name)
            object.__setattr__(self, name, value)
        if self.dialect != "envoy" and not (self.method_header and self.uri_header):
            raise ConfigError("method_header and uri_header are needed by this dialect")
        if self.path_prefix and (
            self.dialect != "envoy"
            or not self.path_prefix.startswith("/")
            or self.path_prefix.endswith("/")
        ):
            raise ConfigError("path_prefix is for the envoy dialect: '/like/this', no final '/'")
        names = []
        for name in (
            "shared_secret_header",
            "workspace_header",
            "key_kind_header",
            "key_id_header",
            "action_header",
        ):
            names.append(_header(getattr(self, name), name))
            object.__setattr__(self, name, names[-1])
        if len(set(names[1:])) != len(names[1:]):
            raise ConfigError("the four identity headers must be different headers")

    def networks(self) -> tuple[Network, ...]:
        if isinstance(self.trusted_proxies, str | bytes) or not isinstance(
            self.trusted_proxies, Iterable
        ):
            raise ConfigError("trusted_proxies must be a list of networks, like ['10.0.0.0/8']")
        try:
            return tuple(ipaddress.ip_network(n, strict=True) for n in self.trusted_proxies)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"trusted_proxies: {exc}") from None

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> dict[str, Any]:
        """Options from the ``[authz]`` table (environment included), as keyword arguments
        (checked in full by the service); unknown names fail here."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(
                f"unknown option(s) in [authz]: {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        if "dialect" not in table:
            raise ConfigError("[authz] dialect is required: nginx, forwarded or envoy")
        return dict(table)


def _header(value: object, what: str) -> str:
    if not isinstance(value, str) or not _HEADER_NAME.fullmatch(value.lower()):
        raise ConfigError(f"{what} must be an HTTP header name, like 'x-original-uri'")
    return value.lower()
