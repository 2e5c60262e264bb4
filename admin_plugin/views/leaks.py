"""The Tokens tab's leak-report panel: the workspace's leak policy (changed here, audited)
and the leak reports it received (:mod:`policies.operations.leaks`)."""

from __future__ import annotations

from typing import Any

from flask import Response

from admin_plugin.identity import AdminIdentity
from admin_plugin.problems import bad_request
from admin_plugin.views.base import answer
from policies import PolicyStore
from policies.leaks.policy import SDK_CHOICES, TOKEN_CHOICES, LeakPolicy
from policies.operations import leaks as leak_ops

LISTED = 20  # reports the panel shows, newest first
OUTCOMES = {
    "rolled": "SDK key rolled",
    "grace_ended": "old SDK key refused",
    "revoked": "token revoked",
    "notified": "nothing changed (notify)",
    "already_revoked": "already revoked",
}


def panel(store: PolicyStore, ws: str) -> dict[str, Any]:
    """The panel's context: the policy, its choices, the newest reports."""
    policy, damaged = store.run(leak_ops.policy_in_force(store.ctx, ws))
    return {
        "policy": policy,
        "damaged": damaged,
        "records": store.run(leak_ops.recent(store.ctx, ws, LISTED)),
        "sdk_choices": SDK_CHOICES,
        "token_choices": TOKEN_CHOICES,
        "outcomes": OUTCOMES,
    }


class LeakActions:
    def __init__(self, store: PolicyStore) -> None:
        self.store = store

    def set_policy(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        """``{sdk, tokens}``: the workspace's leak policy (audited as ``leak_policy.set``)."""
        sdk, tokens = body.get("sdk"), body.get("tokens")
        if sdk not in SDK_CHOICES or tokens not in TOKEN_CHOICES:
            raise bad_request(
                f"Choose sdk: {' or '.join(SDK_CHOICES)}, tokens: {' or '.join(TOKEN_CHOICES)}."
            )
        policy = LeakPolicy(sdk, tokens)
        changed = self.store.run(leak_ops.set_policy(self.store.ctx, ws, policy, actor=admin.actor))
        return answer({**policy.as_dict(), "changed": changed})
