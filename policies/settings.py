"""Deployment settings shared by every side: where Redis is and the two secrets.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.environment import overlay
from policies.errors import ConfigError
from policies.keys.crypto import Keyring

DEFAULT_REDIS_URL = "redis://localhost:6379/0"


@dataclass(frozen=True)
class Settings:
    redis_url: str
    master_keys: tuple[str, ...] = field(repr=False)
    digest_secret: str = field(repr=False)
    file: Mapping[str, Any] = field(default_factory=dict, repr=False)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.keyring()  # fail at start-up, not on the first request

    def keyring(self, clock: Callable[[], float] = time.time) -> Keyring:
        return Keyring(self.master_keys, self.digest_secret, clock=clock)

    def section(self, name: str, schema: type | None = None) -> dict[str, Any]:
        """A table of the config file (``{}`` when absent), for the side that owns it.

        With ``schema`` (the owner's options dataclass), ``KEYSTILE_<NAME>_<OPTION>``
        environment variables override the file, converted to the option's type.
        """
        table = self.file.get(name, {})
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{name}] in the config file must be a table")
        if schema is None:
            return dict(table)
        return overlay(name, table, schema, self.environ)

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, config_file: str | Path | None = None
    ) -> Settings:
        env = os.environ if environ is None else environ
        path = config_file or env.get("KEYSTILE_CONFIG")
        data: dict[str, Any] = {}
        if path:
            try:
                data = tomllib.loads(Path(path).read_text("utf-8"))
            except OSError as exc:
                raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        own = data.get("keystile", {})
        if not isinstance(own, Mapping):
            raise ConfigError("[keystile] in the config file must be a table")
        keys: Any = env.get("KEYSTILE_MASTER_KEYS") or own.get("master_keys") or ()
        if isinstance(keys, str):
            keys = [k.strip() for k in keys.split(",") if k.strip()]
        if not isinstance(keys, list | tuple) or not all(isinstance(k, str) for k in keys):
            raise ConfigError("master_keys must be a list of strings")
        return cls(
            redis_url=str(
                env.get("KEYSTILE_REDIS_URL")
                or env.get("REDIS_URL")
                or own.get("redis_url")
                or DEFAULT_REDIS_URL
            ),
            master_keys=tuple(keys),
            digest_secret=str(env.get("KEYSTILE_DIGEST_SECRET") or own.get("digest_secret") or ""),
            file=data,
            environ=dict(env),
        )
