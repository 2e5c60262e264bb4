"""The exceptions every Keystile layer agrees on.

Each carries a message written for the person who caused it (an admin, an operator, a
CLI user). The HTTP and CLI faces translate them; nothing below them prints.
"""

from __future__ import annotations


class KeystileError(Exception):
    """Base of every error Keystile raises on purpose."""


class ConfigError(KeystileError):
    """The deployment's configuration is missing or unusable (raised at start-up)."""


class InvalidKey(KeystileError):
    """A presented key is malformed, fails its checksum, is unknown or revoked.

    One class, one message: callers must not learn which of these it was.
    """

    def __init__(self) -> None:
        super().__init__("invalid key")


class UnknownWorkspace(KeystileError):
    def __init__(self, workspace_id: str) -> None:
        super().__init__(f"unknown workspace: {workspace_id!r}")
        self.workspace_id = workspace_id


class CatalogError(KeystileError):
    """A catalog is malformed, or a rule names something the catalog does not know."""


class NotFound(KeystileError):
    """A token or secret that the caller named does not exist (or no longer does)."""


class StoreUnavailable(KeystileError):
    """Redis could not be reached or answered with an error."""


class StoreUnreachable(StoreUnavailable):
    """Nothing answered: the connection was refused or timed out (not a Redis error reply).
    The faces that know the URL name it (:func:`policies.storage.connections.unreachable`)."""

    def __init__(self, reason: str, *, headline: str = "Redis is unavailable") -> None:
        super().__init__(f"{headline} ({reason})")
        self.reason = reason


class AlreadyExists(KeystileError):
    """What the caller asked to create exists already (decided in one atomic step)."""
