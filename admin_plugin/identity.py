"""Who the signed-in admin is: the host app says, Keystile only asks.

The host passes ``current_admin``: a callable returning an :class:`AdminIdentity` (or any
object with ``id``, ``email`` and ``workspaces``, or a mapping with those keys), or None
when nobody is signed in. :func:`flask_login_admin` builds one from Flask-Login's
``current_user`` without importing Flask-Login until a request asks.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.errors import MessageError
from email.headerregistry import Address
from typing import Any

from policies.errors import ConfigError
from policies.keys.keyformat import is_workspace_id


@dataclass(frozen=True, slots=True)
class AdminIdentity:
    """An admin: a stable id (binds one-time passwords), where codes go, what they manage."""

    id: str
    email: str
    workspaces: tuple[str, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ConfigError("an admin identity needs a non-empty string id")
        if not is_one_address(self.email):
            raise ConfigError(
                f"admin {self.id!r} has no usable email address: {self.email!r} is not one "
                "address such as ops@example.com"
            )
        bad = [w for w in self.workspaces if not is_workspace_id(w)]
        if bad:
            raise ConfigError(f"admin {self.id!r}: not workspace ids: {', '.join(map(repr, bad))}")

    @property
    def actor(self) -> str:
        """How the audit log names this admin."""
        return f"admin:{self.email}"

    def manages(self, ws: str) -> bool:
        return ws in self.workspaces

    @classmethod
    def coerce(cls, value: Any) -> AdminIdentity | None:
        """Accept what a host's callable may return: identity, object, mapping or None."""
        if value is None or isinstance(value, AdminIdentity):
            return value
        get: Callable[[str, Any], Any]
        if isinstance(value, Mapping):
            get = value.get
        else:

            def get(name: str, default: Any) -> Any:
                return getattr(value, name, default)

        workspaces: Iterable[str] = get("workspaces", ()) or ()
        return cls(
            id=str(get("id", "")),
            email=str(get("email", "")),
            workspaces=tuple(dict.fromkeys(workspaces)),
            name=str(get("name", "") or ""),
        )


def is_one_address(text: object) -> bool:
    """One bare address (``user@domain``), by the standard library's RFC 5322 parser: no
    display name, no list, no comma, no CR/LF or other control character. The address
    goes into a mail header, so anything else could add recipients or headers."""
    if not isinstance(text, str) or "," in text or not text.isprintable():
        return False
    try:
        parsed = Address(addr_spec=text)
    except (ValueError, IndexError, MessageError):  # IndexError: "user@" in Python 3.11
        return False
    return bool(parsed.username and parsed.domain) and parsed.addr_spec == text


CurrentAdmin = Callable[[], AdminIdentity | None]


def from_callable(source: Callable[[], Any]) -> CurrentAdmin:
    """Wrap the host's callable so that it always answers AdminIdentity or None."""

    def current_admin() -> AdminIdentity | None:
        return AdminIdentity.coerce(source())

    return current_admin


def flask_login_admin(
    workspaces: str | Callable[[Any], Iterable[str]] = "workspaces",
    *,
    email: str = "email",
) -> CurrentAdmin:
    """An admin from Flask-Login's ``current_user``; anonymous users are nobody.

    ``workspaces`` names the user's attribute listing the workspace ids they manage, or is
    a function of the user returning them. The id is ``user.get_id()``.
    """

    def current_admin() -> AdminIdentity | None:
        try:  # imported late: Flask-Login is the host's optional dependency, not ours
            user = importlib.import_module("flask_login").current_user
        except ImportError:
            raise ConfigError(
                "flask_login_admin() needs Flask-Login installed and set up"
            ) from None
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        managed = workspaces(user) if callable(workspaces) else getattr(user, workspaces, ())
        return AdminIdentity(
            id=str(user.get_id()),
            email=str(getattr(user, email, "")),
            workspaces=tuple(dict.fromkeys(managed or ())),
            name=str(getattr(user, "name", "") or ""),
        )

    return current_admin
