"""The leak-report endpoint's options (the ``[leaks]`` table, ``KEYSTILE_LEAKS_*``),
checked once at construction (``ConfigError``)."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from policies.errors import ConfigError

GITHUB_KEYS_URL = "https://api.github.com/meta/public_keys/secret_scanning"
# GitLab names a type "gitleaks_rule_id_" + the rule's id (docs/ holds the gitleaks rules).
GITLAB_TYPES = (
    "gitleaks_rule_id_keystile_sdk_access_key",
    "gitleaks_rule_id_keystile_workspace_token",
)
MIN_TOKEN = 32
_TYPE = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


@dataclass(frozen=True, slots=True)
class LeakConfig:
    enabled: bool = False  # `keystile serve` mounts the endpoint only when true
    path: str = "/keystile/leaks"  # where `keystile serve` mounts it
    github: bool = True  # answer GitHub's reports (POST {path}/github)
    github_keys_url: str = GITHUB_KEYS_URL
    github_keys_token: str | None = None  # optional: GitHub's API limits anonymous calls
    github_keys_refresh: float = 60.0  # at most one key-set fetch per this many seconds
    github_keys_timeout: float = 5.0
    gitlab_token: str | None = None  # GitLab's API is served only when set (32+ characters)
    gitlab_types: Collection[str] = GITLAB_TYPES
    gitlab_rate: int = 60  # GitLab requests per minute and process (then 429)
    max_items: int = 1000  # reported keys per request (then 413)
    max_body_bytes: int = 1_048_576  # request body (then 413)
    store_timeout: float = 5.0  # one report's store calls (then 503: the reporter retries)

    def __post_init__(self) -> None:
        for name in ("enabled", "github"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"[leaks] {name} must be true or false")
        if (
            not isinstance(self.path, str)
            or not self.path.startswith("/")
            or self.path.endswith("/")
            or any(c in self.path for c in " *?#")
        ):
            raise ConfigError("[leaks] path must look like /keystile/leaks (no final '/')")
        url = self.github_keys_url
        if not isinstance(url, str) or not (url.startswith("https://") or _loopback(url)):
            raise ConfigError(
                "[leaks] github_keys_url must be an https:// URL (http only to this machine)"
            )
        for name in ("github_keys_token", "gitlab_token"):
            value = getattr(self, name)
            if value == "":
                object.__setattr__(self, name, None)
            elif value is not None and not isinstance(value, str):
                raise ConfigError(f"[leaks] {name} must be text")
        if self.gitlab_token is not None and len(self.gitlab_token) < MIN_TOKEN:
            raise ConfigError(f"[leaks] gitlab_token must be at least {MIN_TOKEN} characters")
        types = self.gitlab_types
        if isinstance(types, str) or not all(
            isinstance(t, str) and _TYPE.fullmatch(t) for t in types
        ):
            raise ConfigError("[leaks] gitlab_types must be a list of type names")
        object.__setattr__(self, "gitlab_types", tuple(types))
        for name in ("gitlab_rate", "max_items", "max_body_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"[leaks] {name} must be a positive whole number")
        for name in ("github_keys_refresh", "github_keys_timeout", "store_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"[leaks] {name} must be a positive number of seconds")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> LeakConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(
                f"unknown option(s) in [leaks]: {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        return cls(**table)


def _loopback(url: str) -> bool:
    """An ``http://`` URL of this machine (a local key server: tests, a relay): no one
    between could swap the keys."""
    if not url.startswith("http://"):
        return False
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
