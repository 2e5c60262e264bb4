"""The Tokens tab: workspace tokens (create behind a one-time password, shown once; revoke)
and secrets (add, reveal behind a one-time password, delete)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Response

from admin_plugin.identity import AdminIdentity
from admin_plugin.otp_flow import TOKEN_CREATE, OtpFlow, secret_reveal
from admin_plugin.problems import Problem, bad_request, not_found
from admin_plugin.views.base import answer, text
from admin_plugin.views.lifetime import check_new_token
from admin_plugin.views.limits import token_limits
from admin_plugin.views.restrictions import UNRESTRICTED, AllowLists, allow_lists
from policies import PolicyStore
from policies.catalog.rules import Rule
from policies.errors import AlreadyExists, CatalogError
from policies.keys.crypto import Keyring
from policies.limits.rate_limits import KEY_SCOPE, Limits
from policies.operations.base import check_label
from policies.operations.secrets import SECRET_NAME_RE
from policies.times import MAX_LIFETIME_DAYS, check_expiry, format_time

DAY = 86400
MAX_TOKEN_DAYS = MAX_LIFETIME_DAYS
MAX_TOKEN_RULES = 200


def parse_expiry(body: dict[str, Any], now: float) -> float | None:
    """``expires_in_days`` (1-3650) or ``expires_at`` (ISO date or time, UTC if naive)."""
    days, at = body.get("expires_in_days"), body.get("expires_at")
    if days not in (None, "") and at not in (None, ""):
        raise bad_request("Give the expiry either in days or as a date, not both.")
    if days not in (None, ""):
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_TOKEN_DAYS:
            raise bad_request(f"Expiry in days must be a whole number from 1 to {MAX_TOKEN_DAYS}.")
        return now + days * DAY
    if at in (None, ""):
        return None
    if not isinstance(at, str):
        raise bad_request("The expiry date must be text such as 2030-01-31.")
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise bad_request("The expiry date must look like 2030-01-31 or 2030-01-31T12:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.timestamp() <= now:
        raise bad_request("The expiry date must be in the future.")
    # The store's own bound (a documented maximum), checked before a code is mailed.
    return check_expiry(moment.timestamp(), now)


def parse_rules(raw: Any) -> list[Rule]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        raise bad_request('Rules must be a list such as ["projects:create", "billing:*"].')
    if len(raw) > MAX_TOKEN_RULES:
        raise bad_request(f"A token takes at most {MAX_TOKEN_RULES} rules.")
    return [Rule.decode(r) for r in raw]


@dataclass(frozen=True, slots=True)
class TokenForm:
    """A token as the admin asked for it, checked; what a ``token.create`` code is bound to."""

    name: str
    expiry: tuple[str, float] | None  # ("days", n) or ("at", time), as asked
    expires: float | None
    rules: list[Rule]
    limits: Limits | None
    allowed: AllowLists = UNRESTRICTED  # scopes and networks (views.restrictions)

    def binding(self, keyring: Keyring) -> str:
        """A digest of (name, expiry, rules, limits, allow-lists): a code asked for another
        form differs."""
        form = [self.name, self.expiry, sorted(r.encode() for r in self.rules)]
        form.append(self.limits.encode() if self.limits else "")
        if self.allowed != UNRESTRICTED:
            form.append(self.allowed.encode())
        return keyring.digest(json.dumps(["keystile token form", form]))

    def describe(self) -> str:
        """The mail's line: the token's name and expiry."""
        if self.expiry is None:
            expiry = "never expires"
        elif self.expiry[0] == "days":
            expiry = f"expires {int(self.expiry[1])} days after it is created"
        else:
            expiry = f"expires {format_time(self.expiry[1], '%Y-%m-%d %H:%M UTC')}"
        return f'The token: "{self.name}", which {expiry}.'


def token_form(store: PolicyStore, body: dict[str, Any]) -> TokenForm:
    """``{name, expires…, rules, limits}`` checked, as a bad request (400) if wrong."""
    name = check_label(text(body, "name", "Token name"), "token name")
    expires = parse_expiry(body, store.ctx.clock())
    days = body.get("expires_in_days")  # an int from 1 here, if parse_expiry took it
    expiry: tuple[str, float] | None = None
    if expires is not None:
        expiry = ("days", float(days)) if isinstance(days, int) else ("at", expires)
    rules = parse_rules(body.get("rules"))
    if rules:  # checked before the code too: a typo in the form must not burn it
        catalog = store.load_catalog()
        if catalog is None:
            raise CatalogError("there is no catalog to check the rules against")
        for rule in rules:
            catalog.check_rule(rule)
    limits = token_limits(body.get("limits"))  # "100/min, 10000/day": the whole token's
    return TokenForm(name, expiry, expires, rules, limits, allow_lists(store, body))


def secret_name(name: str) -> str:
    if SECRET_NAME_RE.fullmatch(name) is None:
        raise not_found("There is no secret by that name.")
    return name


class TokenActions:
    """The tokens' and secrets' actions."""

    def __init__(self, store: PolicyStore, flow: OtpFlow) -> None:
        self.store = store
        self.flow = flow

    # -- workspace tokens -------------------------------------------------------------
    def create_token(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        """``{name, expires…, rules, limits, code}``: the code from ``api/otp`` (``token.create``,
        asked for this same form: it mints only that token). Without ``code`` the form is
        only checked: 400 if it is wrong, else 403 ``otp_required``, so the page asks for a
        code only for a form that will work."""
        form = token_form(self.store, body)
        check_new_token(self.store, ws, form.expires)
        if body.get("code") in (None, ""):
            raise Problem(
                403,
                "otp_required",
                "Code required",
                "Creating a token needs a one-time password: ask for one (token.create).",
                action=TOKEN_CREATE,
            )
        bound = form.binding(self.store.ctx.keyring)
        self.flow.verify(admin, ws, TOKEN_CREATE, body.get("code"), bound=bound)
        limits = form.limits
        created = self.store.create_token(
            ws,
            form.name,
            actor=admin.actor,
            expires=form.expires,
            rules=form.rules,
            limits=limits,
            scopes=form.allowed.scopes,
            networks=form.allowed.networks,
        )
        info = created.info
        return answer(
            {
                "token": created.token,
                "key_id": info.key_id,
                "name": info.name,
                "expires": info.expires,
                "rules": [r.encode() for r in info.rules],
                "limits": [str(w) for w in limits.as_dict()[KEY_SCOPE]] if limits else [],
                "scopes": info.scopes,
                "networks": info.networks,
            },
            201,
        )

    def revoke_token(self, admin: AdminIdentity, ws: str, key_id: str) -> Response:
        info = self.store.revoke_token(ws, key_id, actor=admin.actor)
        return answer({"key_id": info.key_id, "name": info.name, "status": "revoked"})

    # -- secrets ----------------------------------------------------------------------
    def add_secret(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        name = text(body, "name", "Secret name").strip()
        value = text(body, "value", "Secret value")
        try:  # one atomic step decides: of parallel adds of one name, one wins
            self.store.secrets.put(ws, name, value, actor=admin.actor, replace=False)
        except AlreadyExists:
            raise Problem(
                409,
                "duplicate_secret",
                "Secret exists",
                f"A secret named {name!r} already exists: delete it first to replace it.",
            ) from None
        return answer({"name": name}, 201)

    def reveal_secret(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        name = secret_name(text(body, "name", "Secret name"))
        version = self.store.secrets.version(ws, name)  # the code was sent for one version
        self.flow.verify(admin, ws, secret_reveal(name), body.get("code"), bound=version)
        value = self.store.secrets.reveal(ws, name, actor=admin.actor, version=version)
        return answer({"name": name, "value": value})

    def delete_secret(self, admin: AdminIdentity, ws: str, secret: str) -> Response:
        self.store.secrets.delete(ws, secret_name(secret), actor=admin.actor)
        return answer({"deleted": secret})
