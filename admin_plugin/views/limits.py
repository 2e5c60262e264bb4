"""Rate limits of the publishable key, the SDK key and each token
(:mod:`policies.limits.rate_limits`).

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response

from admin_plugin.identity import AdminIdentity
from admin_plugin.otp_flow import OtpFlow
from admin_plugin.problems import bad_request
from admin_plugin.views.base import answer, text
from policies import Catalog, PolicyStore
from policies.limits.rate_limits import (
    KEY_SCOPE,
    Limits,
    Window,
    dead_actions,
    owner_named,
    windows,
)

MAX_LIMITS_TEXT = 200  # four windows fit many times over; longer is a paste gone wrong


@dataclass(frozen=True, slots=True)
class LimitRow:
    """One scope of an owner's limits, as the panels list it."""

    scope: str
    windows: tuple[Window, ...]
    dead: bool = False  # an action the catalog no longer has: counts nothing, to remove

    @property
    def label(self) -> str:
        return scope_label(self.scope)

    @property
    def text(self) -> str:
        """What the edit form is prefilled with: the limits as the admin types them."""
        return ", ".join(str(w) for w in self.windows)


def scope_label(scope: str) -> str:
    return "Whole key" if scope == KEY_SCOPE else scope


def rows(limits: Limits, catalog: Catalog | None) -> list[LimitRow]:
    """The whole key first, then actions by name (``Limits.scopes`` sorts ``*`` first);
    those ``catalog`` lacks marked dead."""
    dead = dead_actions(limits, catalog)
    return [LimitRow(scope, ws, scope in dead) for scope, ws in limits.scopes]


def owner_of(key: str) -> str:
    """The store's owner for the page's name of a key (the CLI's ``owner_for``, with a
    message for the page rather than for ``--key``)."""
    found = owner_named(key, codes=False)
    if found is not None:
        return found
    raise bad_request("Say which key: publishable, sdk or a token's 12-character key id.")


def parse_limits(raw: Any) -> tuple[Window, ...]:
    """``"100/min, 10000/day"`` (or a list of such texts) -> checked windows. Errors are
    the store's LimitError messages (a 400), so the page and the CLI say the same thing."""
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        raw = ", ".join(raw)
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise bad_request("Limits must be text such as 100/min, 10000/day.")
    if len(raw) > MAX_LIMITS_TEXT:
        raise bad_request(f"Limits must be at most {MAX_LIMITS_TEXT} characters.")
    # Stripped, so an error quotes just the part in question; a trailing comma is harmless.
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts:
        raise bad_request("Give at least one limit, e.g. 100/min or 100/min, 10000/day.")
    return windows(parts)


def token_limits(raw: Any) -> Limits | None:
    """The token form's optional field: whole-token limits, or None when left empty."""
    if raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []:
        return None
    return Limits.of({KEY_SCOPE: parse_limits(raw)})


def check_scope_text(raw: Any) -> str:
    """``*`` or ``module.functionality`` as text; the store checks it against the catalog."""
    if raw in (None, ""):
        return KEY_SCOPE
    if not isinstance(raw, str):
        raise bad_request("The scope must be * (the whole key) or module.functionality.")
    return raw.strip()


class LimitActions:
    """The rate limits' actions (all three kinds of key)."""

    def __init__(self, store: PolicyStore, flow: OtpFlow) -> None:
        self.store = store
        self.flow = flow

    def set_limits(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        """``{key, scope, limits}``: replace one scope's limits of one key (add or edit)."""
        owner = owner_of(text(body, "key", "Key"))
        scope = check_scope_text(body.get("scope"))
        checked = parse_limits(body.get("limits"))
        now = self.store.limits.replace(ws, owner, checked, scope=scope, actor=admin.actor)
        return answer(
            {
                "key": body["key"],
                "scope": scope,
                "label": scope_label(scope),
                "limits": [str(w) for w in checked],
                "all": now.describe(),
            }
        )

    def remove_limits(self, admin: AdminIdentity, ws: str, key: str, scope: str) -> Response:
        """Lift one scope's limits; 404 if it had none."""
        now = self.store.limits.remove(ws, owner_of(key), scope=scope, actor=admin.actor)
        return answer({"key": key, "removed": scope, "all": now.describe()})
