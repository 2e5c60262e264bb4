"""Keystile's domain and its Redis store, shared by the gateway and the admin plugin.

Imports neither Starlette nor Flask: see :mod:`policies.keyformat` (what a key looks like),
:mod:`policies.crypto` (digests and encryption), :mod:`policies.rules`,
:mod:`policies.catalog`, :mod:`policies.schema` (the Redis layout), :mod:`policies.store`
(synchronous writer) and :mod:`policies.async_store` (asynchronous reader).
"""

from policies.async_store import AsyncPolicyStore
from policies.catalog import Catalog, Functionality, Module
from policies.catalog_routes import RouteEntry
from policies.crypto import Keyring
from policies.errors import (
    CatalogError,
    ConfigError,
    InvalidKey,
    KeystileError,
    NotFound,
    StoreUnavailable,
    UnknownWorkspace,
)
from policies.keyformat import KeyKind
from policies.records import KeyPolicy, TokenInfo, WorkspaceInfo
from policies.rules import WILDCARD, Rule
from policies.settings import Settings
from policies.store import PolicyStore

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
