"""Who called, as the app sees it: Starlette's ``request.user`` and ``request.auth``.

``request.user`` is a :class:`KeyUser` (workspace, key kind, key id, token name; never the
key). ``request.auth.scopes`` holds ``"authenticated"`` and the key's kind (``"sdk"``,
``"publishable"`` or ``"token"``), so Starlette's ``@requires("sdk")`` works as usual.
``request.state`` gets ``workspace_id``, ``key_kind``, ``key_id`` and ``action``
(``"module.functionality"``, or None outside the catalog).
"""

from __future__ import annotations

from starlette.authentication import AuthCredentials, BaseUser

from policies.keys.keyformat import KeyKind

SCOPE_NAMES = {KeyKind.SDK: "sdk", KeyKind.PUBLISHABLE: "publishable", KeyKind.TOKEN: "token"}


class KeyUser(BaseUser):
    """The caller: a workspace's key. Immutable, shared by every request with the same key."""

    __slots__ = ("key_id", "key_kind", "key_name", "workspace_id")
    key_id: str
    key_kind: KeyKind
    key_name: str | None
    workspace_id: str

    def __init__(
        self, workspace_id: str, key_kind: KeyKind, key_id: str, key_name: str | None = None
    ) -> None:
        set_ = object.__setattr__
        set_(self, "workspace_id", workspace_id)
        set_(self, "key_kind", key_kind)
        set_(self, "key_id", key_id)
        set_(self, "key_name", key_name)

    # Shared by every request with the same key: app code must not change it for the next.
    def __setattr__(self, name: str, value: object) -> None:
        raise TypeError("request.user is shared between requests: read-only")

    def __delattr__(self, name: str) -> None:
        raise TypeError("request.user is shared between requests: read-only")

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.key_name or f"{self.key_kind.label} {self.key_id}"

    @property
    def identity(self) -> str:
        return f"{self.workspace_id}/{self.key_id}"

    def __repr__(self) -> str:
        return f"KeyUser({self.workspace_id!r}, {self.key_kind.name}, key_id={self.key_id!r})"


class KeyCredentials(AuthCredentials):
    """``AuthCredentials`` that no request can change for the next: one per key kind is
    shared by every key of that kind (see :func:`credentials`)."""

    def __init__(self, key_kind: KeyKind) -> None:
        super().__init__(("authenticated", SCOPE_NAMES[key_kind]))
        object.__setattr__(self, "scopes", _FrozenList(self.scopes))

    def __setattr__(self, name: str, value: object) -> None:
        if "scopes" in vars(self):  # constructed
            raise TypeError("request.auth is shared between requests and keys: read-only")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise TypeError("request.auth is shared between requests and keys: read-only")


class _FrozenList(list[str]):
    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError("request.auth.scopes is shared between requests; copy it to change it")

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse  # type: ignore[assignment]
    __setitem__ = __delitem__ = __iadd__ = _refuse  # type: ignore[assignment]


# Scopes depend on the kind alone and cannot change: one object per kind serves every key
# of that kind (a per-key copy cost ~180 bytes of every cached key, for nothing).
_CREDENTIALS = {kind: KeyCredentials(kind) for kind in SCOPE_NAMES}


def credentials(key_kind: KeyKind) -> KeyCredentials:
    """The shared, immutable ``request.auth`` of every key of ``key_kind``."""
    return _CREDENTIALS[key_kind]
