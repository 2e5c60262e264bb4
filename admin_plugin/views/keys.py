"""The two role keys: one-time passwords, SDK key reveal and roll, publishable key rotation
and its blacklist rules (checked against the catalog the gateway serves)."""

from __future__ import annotations

from typing import Any

from flask import Response

from admin_plugin.identity import AdminIdentity
from admin_plugin.otp_flow import (
    SDK_RESTRICT,
    SDK_REVEAL,
    SDK_ROLL,
    TOKEN_CREATE,
    OtpFlow,
    secret_reveal,
)
from admin_plugin.problems import Problem, bad_request, not_found
from admin_plugin.views.base import answer, text
from admin_plugin.views.restrictions import allow_lists
from admin_plugin.views.tokens import token_form
from policies import PolicyStore
from policies.catalog.rules import WILDCARD, Rule
from policies.keys import keyformat
from policies.operations.secrets import SECRET_NAME_RE
from policies.operations.workspaces import MAX_GRACE_SECONDS

GRACE_CHOICES = (
    (0, "No grace: the old key stops now"),
    (3600, "1 hour"),
    (86400, "24 hours"),
    (7 * 86400, "7 days"),
)


def rule_label(rule: Rule) -> str:
    what = "every functionality" if rule.whole_module else rule.functionality
    return f"{rule.module} → {what}"


def duplicate(detail: str) -> Problem:
    return Problem(409, "duplicate_rule", "Already blacklisted", detail)


class KeyActions:
    """The SDK and publishable keys' actions, and the blacklist rules."""

    def __init__(self, store: PolicyStore, flow: OtpFlow) -> None:
        self.store = store
        self.flow = flow

    # -- one-time passwords -----------------------------------------------------------
    def send_code(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        """Mail a code for ``{"action": "sdk_key.reveal" | "sdk_key.roll"}``, ``{"action":
        "token.create", name, expires…, rules, limits}`` (the token's form: the code is
        bound to it) or ``{"action": "secret.reveal", "name": …}`` (bound to the secret's
        version); resending is the same call."""
        action, bound, detail = body.get("action"), "", ""
        if action == "secret.reveal":
            name = text(body, "name", "Secret name")
            if SECRET_NAME_RE.fullmatch(name) is None or name not in self.store.secrets.names(ws):
                raise not_found(f"There is no secret named {name!r}.")
            action, bound = secret_reveal(name), self.store.secrets.version(ws, name)
        elif action == TOKEN_CREATE:  # the code mints only the token of this form
            form = token_form(self.store, body)
            bound, detail = form.binding(self.store.ctx.keyring), form.describe()
        elif action == SDK_RESTRICT:  # the code sets only these lists
            lists = allow_lists(self.store, body)
            bound, detail = lists.binding(self.store.ctx.keyring), lists.describe()
        elif action not in (SDK_REVEAL, SDK_ROLL):
            raise bad_request(
                "Unknown action: use sdk_key.reveal, sdk_key.roll, sdk_key.restrict, "
                "token.create or secret.reveal."
            )
        name = self.store.workspace(ws).name
        sent = self.flow.send(admin, ws, action, name, bound=bound, detail=detail)
        return answer(
            {
                "sent_to": sent.sent_to,
                "expires_in": sent.expires_in,
                "resend_after": sent.resend_after,
            },
            202,
        )

    # -- SDK access key ---------------------------------------------------------------
    def reveal_sdk_key(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        self.flow.verify(admin, ws, SDK_REVEAL, body.get("code"))
        return answer({"key": self.store.reveal_sdk_key(ws, actor=admin.actor)})

    def roll_sdk_key(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        grace = body.get("grace_seconds", 0)
        # Checked before the code: a typo in the form must not burn the code.
        if not isinstance(grace, int) or isinstance(grace, bool):
            raise bad_request("The grace period must be a whole number of seconds.")
        if not 0 <= grace <= MAX_GRACE_SECONDS:
            raise bad_request(f"The grace period must be 0 to {MAX_GRACE_SECONDS // 86400} days.")
        self.flow.verify(admin, ws, SDK_ROLL, body.get("code"))
        key = self.store.roll_sdk_key(ws, actor=admin.actor, grace_seconds=grace)
        valid_until = self.store.ctx.clock() + grace if grace else None
        return answer(
            {"key": key, "masked": keyformat.mask(key), "old_key_valid_until": valid_until}
        )

    # -- publishable key --------------------------------------------------------------
    def rotate_publishable_key(self, admin: AdminIdentity, ws: str) -> Response:
        return answer({"key": self.store.rotate_publishable_key(ws, actor=admin.actor)})

    # -- catalog and blacklist rules --------------------------------------------------
    def catalog(self) -> Response:
        catalog = self.store.load_catalog()
        if catalog is None:
            raise Problem(
                409,
                "no_catalog",
                "No catalog yet",
                "The gateway has no catalog loaded, so there is nothing to choose from. "
                "Load one with `keystile catalog load FILE`.",
            )
        writes = catalog.write_actions()  # for scopes' read level
        modules: list[dict[str, Any]] = [
            {
                "name": m.name,
                "description": m.description,
                "functionalities": [
                    {
                        "name": f.name,
                        "description": f.description,
                        "writes": f"{m.name}.{f.name}" in writes,
                    }
                    for f in m.functionalities
                ],
            }
            for m in catalog.modules
        ]
        return answer({"modules": modules, "wildcard": WILDCARD})

    def add_rule(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        module = text(body, "module", "Module")
        functionality = text(body, "functionality", "Functionality")
        rule = Rule(module, functionality)
        existing = set(self.store.list_rules(ws))
        whole = Rule(module, WILDCARD)
        if rule in existing:
            raise duplicate(f"{rule_label(rule)} is already blocked.")
        if whole in existing:
            raise duplicate(
                f"{rule_label(rule)} is already blocked by the rule {rule_label(whole)}."
            )
        if not self.store.add_rule(ws, rule, actor=admin.actor):  # added meanwhile elsewhere
            raise duplicate(f"{rule_label(rule)} is already blocked.")
        return answer({"rule": rule.encode(), "label": rule_label(rule)}, 201)

    def remove_rule(
        self, admin: AdminIdentity, ws: str, module: str, functionality: str
    ) -> Response:
        rule = Rule(module, functionality)
        if not self.store.remove_rule(ws, rule, actor=admin.actor):
            raise not_found(f"{rule_label(rule)} was not blocked.")
        return answer({"removed": rule.encode()})
