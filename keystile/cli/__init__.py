"""The ``keystile`` command line: operate workspaces, keys, rules, tokens,
rate limits and the catalog.

Talks to the Redis named by ``KEYSTILE_REDIS_URL``/``REDIS_URL`` (or a config file), with the
secrets from the environment; ``--embedded`` instead runs (or joins) a persistent Redis in a
data folder with generated secrets. Every failure is one clear line on stderr and exit 1.
"""

from keystile.cli import (
    access,
    authz,
    demo,
    leaks,
    lifetime,
    limits,
    notify,
    operations,
    restrictions,
    scan,
    secrets,
    serve,
    usage,
    workspaces,
)
from keystile.cli.base import main

__all__ = [
    "access",
    "authz",
    "demo",
    "leaks",
    "lifetime",
    "limits",
    "main",
    "notify",
    "operations",
    "restrictions",
    "scan",
    "secrets",
    "serve",
    "usage",
    "workspaces",
]
