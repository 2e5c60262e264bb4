"""Keystile's domain and its Redis store, shared by the gateway and the admin plugin.

Imports neither Starlette nor Flask: see :mod:`policies.keys.keyformat` (what a key looks
like), :mod:`policies.keys.crypto` (digests and encryption), :mod:`policies.catalog.rules`,
:mod:`policies.catalog.catalog`, :mod:`policies.storage.schema` (the Redis layout),
:mod:`policies.storage.sync_store` (synchronous writer) and
:mod:`policies.storage.async_store` (asynchronous reader).
"""

from policies.catalog.catalog import Catalog
from policies.catalog.modules import Functionality, Module
from policies.catalog.routes import RouteEntry
from policies.catalog.rules import WILDCARD, Rule
from policies.errors import (
    CatalogError,
    ConfigError,
    InvalidKey,
    KeystileError,
    NotFound,
    StoreUnavailable,
    UnknownWorkspace,
)
from policies.keys.crypto import Keyring
from policies.keys.keyformat import KeyKind
from policies.settings import Settings
from policies.storage.async_store import AsyncPolicyStore
from policies.storage.sync_store import PolicyStore
from policies.storage.values import KeyPolicy, TokenInfo, WorkspaceInfo

__all__ = [
    "WILDCARD",
    "AsyncPolicyStore",
    "Catalog",
    "CatalogError",
    "ConfigError",
    "Functionality",
    "InvalidKey",
    "KeyKind",
    "KeyPolicy",
    "Keyring",
    "KeystileError",
    "Module",
    "NotFound",
    "PolicyReader",
    "PolicyStore",
    "RouteEntry",
    "Rule",
    "Settings",
    "StoreUnavailable",
    "TokenInfo",
    "UnknownWorkspace",
    "WorkspaceInfo",
]

PolicyReader = AsyncPolicyStore  # its former name (it writes too: last-used times)
