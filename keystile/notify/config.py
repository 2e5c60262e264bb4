"""The ``[notify]`` table: where webhooks may go, and how deliveries are retried.

Every option can also be set as ``KEYSTILE_NOTIFY_<OPTION>`` (:mod:`policies.environment`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from policies.errors import ConfigError
from policies.notify.endpoints import EndpointPolicy, allow_list
from policies.settings import Settings


@dataclass(frozen=True, slots=True)
class NotifyOptions:
    allow_hosts: list[str] = field(default_factory=list)  # private hosts/networks allowed
    timeout: float = 10.0  # each network step of a delivery (connect, send, answer)
    retry_base: float = 5.0  # first retry after about this long, then doubling
    retry_cap: float = 3600.0  # the longest wait between two tries
    max_attempts: int = 12  # then the delivery is a dead letter
    max_age: float = 3 * 86400.0  # ...or once the event is this old
    lease: float = 120.0  # a claimed delivery is tried again after this if its worker died
    batch: int = 20  # deliveries a worker claims of one workspace at a time
    poll: float = 1.0  # seconds between two looks at the queue when it is idle
    sweep_interval: float = 300.0  # re-index every workspace's queue (crash repair)
    scan_interval: float = 3600.0  # look for tokens expiring within 7 days

    def __post_init__(self) -> None:
        positive = ("retry_base", "retry_cap", "max_age", "lease", "poll")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"[notify] {name} must be a number above 0")
        if not 1 <= self.max_attempts <= 100 or not 1 <= self.batch <= 1000:
            raise ConfigError("[notify] max_attempts must be 1-100 and batch 1-1000")
        if self.lease <= 3 * self.timeout:
            raise ConfigError("[notify] lease must be more than 3 times the timeout")

    @property
    def endpoints(self) -> EndpointPolicy:
        return EndpointPolicy(tuple(self.allow_hosts), self.timeout)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> NotifyOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"unknown [notify] settings: {', '.join(unknown)}")
        values = dict(table)
        values["allow_hosts"] = list(allow_list(values.get("allow_hosts")))
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"[notify]: {exc}") from None

    @classmethod
    def from_settings(cls, settings: Settings) -> NotifyOptions:
        return cls.from_mapping(settings.section("notify", cls))
