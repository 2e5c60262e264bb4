"""The Tokens tab's Lifetime policy section: the workspace's token lifetime policy (a
change is CSRF-checked and audited; not behind a one-time password, since it only bounds
tokens whose creation is), and the tokens unused for N days with their confirmed revoke.

The revoke posts the key ids the admin saw; the store re-checks each (still a live token of
this workspace, still unused for those days) and says which it left alone and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response

from admin_plugin.identity import AdminIdentity
from admin_plugin.problems import bad_request
from admin_plugin.views.base import answer
from policies import PolicyStore
from policies.errors import KeystileError
from policies.lifetime import MAX_DAYS, LifetimePolicy, check_days
from policies.operations.token_activity import activity
from policies.times import format_time

UNUSED_DAYS = 90  # the view's default span
UNUSED_PER_PAGE = 50
UNUSED_ARG = "udays"


def unused_days(args: Mapping[str, str], *, strict: bool) -> int:
    """``?udays=`` (default :data:`UNUSED_DAYS`). A bad value is a 400 when ``strict`` (the
    panel the script fetches); the page shows the default instead."""
    raw = args.get(UNUSED_ARG, "").strip()
    if not raw:
        return UNUSED_DAYS
    if raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= MAX_DAYS:
        return int(raw)
    if strict:
        raise bad_request(f"'Unused for' is a whole number of days from 1 to {MAX_DAYS}.")
    return UNUSED_DAYS


def _policy(body: dict[str, Any]) -> LifetimePolicy:
    days, required = body.get("max_token_days"), body.get("require_expiry", False)
    if days in (None, ""):
        days = None
    elif isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise bad_request(f"The maximum lifetime is a whole number of days from 1 to {MAX_DAYS}.")
    if not isinstance(required, bool):
        raise bad_request("'Require an expiry' is true or false.")
    return LifetimePolicy(days, required)


def _key_ids(body: dict[str, Any]) -> list[str]:
    key_ids = body.get("key_ids")
    if not isinstance(key_ids, list) or not all(isinstance(k, str) for k in key_ids):
        raise bad_request('Name the tokens to revoke: "key_ids": ["…", …].')
    return key_ids


def check_new_token(store: PolicyStore, ws: str, expires: float | None) -> None:
    """A new token's expiry against the policy (a 422 problem if outside it), checked
    before a code is mailed for it; the store checks again as it creates the token."""
    store.lifetime.policy(ws).check_new(expires, store.ctx.clock())


class LifetimeActions:
    """The policy's change, the unused view's revoke, and the section's panel."""

    def __init__(self, store: PolicyStore) -> None:
        self.store = store

    def context(self, ws: str, args: Mapping[str, str], *, strict: bool) -> dict[str, Any]:
        days = unused_days(args, strict=strict)
        return {
            "ws": ws,
            "policy": self.store.lifetime.policy(ws),
            "unused": self.store.lifetime.unused(ws, days, limit=UNUSED_PER_PAGE),
            "days": days,
            "max_days": MAX_DAYS,
            "activity": activity,
            "when": lambda t, empty="never": format_time(t, "%Y-%m-%d %H:%M UTC", empty),
        }

    def set_policy(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        """``{max_token_days: days or null, require_expiry: bool}``."""
        policy = _policy(body)
        _, changed = self.store.lifetime.set_policy(ws, policy, actor=admin.actor)
        return answer({**policy.as_dict(), "description": policy.describe(), "changed": changed})

    def revoke_unused(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        """``{days, key_ids}``: the span and the tokens the admin confirmed."""
        try:
            days = check_days(body.get("days"), "'Unused for'")
        except KeystileError as exc:
            raise bad_request(f"{exc}.") from None
        done = self.store.lifetime.revoke_unused(ws, _key_ids(body), days, actor=admin.actor)
        return answer(
            {
                "days": done.days,
                "revoked": [{"key_id": t.key_id, "name": t.name} for t in done.revoked],
                "skipped": [{"key_id": k, "reason": why} for k, why in done.skipped],
            }
        )
