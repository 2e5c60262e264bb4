"""Security notifications on the Tokens page: the webhook endpoint (its secret shown once),
mail addresses, a test event, and the queue's state. Each change that sends data out (an
endpoint, addresses, a new secret, a test) needs a one-time password, bound to what it
sets: a code asked for one URL cannot set another."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from admin_plugin.identity import AdminIdentity
from admin_plugin.otp_flow import OtpFlow
from admin_plugin.problems import Problem
from admin_plugin.views.base import answer, text
from policies import PolicyStore
from policies.notify import events, webhooks
from policies.notify.endpoints import EndpointPolicy, addresses, check_url
from policies.operations import notify

ENDPOINT = "notify.endpoint"
SECRET = "notify.secret"  # noqa: S105 - an action name, not a password
TEST = "notify.test"
EMAILS = "notify.emails"
ACTIONS = frozenset({ENDPOINT, SECRET, TEST, EMAILS})


def otp_required(action: str) -> Problem:
    return Problem(
        403,
        "otp_required",
        "Code required",
        "This change needs a one-time password.",
        action=action,
    )


class NotifyActions:
    def __init__(self, store: PolicyStore, flow: OtpFlow, policy: EndpointPolicy) -> None:
        self.store = store
        self.flow = flow
        self.policy = policy

    def _url(self, body: dict[str, Any]) -> str:
        url = text(body, "url", "Endpoint URL").strip()
        addresses(check_url(url, self.policy), self.policy)  # refused before a code is sent
        return url

    def _emails(self, body: dict[str, Any]) -> list[str]:
        raw = body.get("emails")
        if isinstance(raw, str):
            raw = [part for part in raw.replace(",", "\n").splitlines()]
        return notify.check_emails(raw if raw is not None else [])

    def binding(self, action: str, body: dict[str, Any]) -> tuple[str, str]:
        """(what the code is bound to, the mail's line naming it)."""
        keyring = self.store.ctx.keyring
        if action == ENDPOINT:
            url = self._url(body)
            return keyring.digest(
                json.dumps(["keystile notify endpoint", url])
            ), f"The endpoint: {url}"
        if action == EMAILS:
            emails = self._emails(body)
            bound = keyring.digest(json.dumps(["keystile notify emails", emails]))
            return bound, f"The addresses: {', '.join(emails) or '(none)'}"
        return "", ""

    def send_code(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        action = str(body.get("action"))
        bound, detail = self.binding(action, body)
        name = self.store.workspace(ws).name
        sent = self.flow.send(admin, ws, action, name, bound=bound, detail=detail)
        data = {
            "sent_to": sent.sent_to,
            "expires_in": sent.expires_in,
            "resend_after": sent.resend_after,
        }
        return answer(data, 202)

    def _verify(self, admin: AdminIdentity, ws: str, action: str, body: dict[str, Any]) -> None:
        if body.get("code") in (None, ""):
            raise otp_required(action)
        bound, _ = self.binding(action, body)
        self.flow.verify(admin, ws, action, body.get("code"), bound=bound)

    def set_endpoint(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        url = self._url(body)
        self._verify(admin, ws, ENDPOINT, body)
        secret = self.store.run(
            notify.set_endpoint(self.store.ctx, ws, url, self.policy, actor=admin.actor)
        )
        return answer({"url": url, "secret": secret}, 201)

    def rotate_secret(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        self._verify(admin, ws, SECRET, body)
        secret = self.store.run(notify.rotate_secret(self.store.ctx, ws, actor=admin.actor))
        return answer({"secret": secret})

    def set_emails(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        self._emails(body)
        self._verify(admin, ws, EMAILS, body)
        emails = self.store.run(
            notify.set_emails(self.store.ctx, ws, self._emails(body), actor=admin.actor)
        )
        return answer({"emails": emails})

    def remove_endpoint(self, admin: AdminIdentity, ws: str) -> Response:
        self.store.run(notify.remove_endpoint(self.store.ctx, ws, actor=admin.actor))
        return answer({"removed": True})

    def send_test(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        """A ``webhook.test`` event, sent now (not queued): the answer says how it went."""
        ctx = self.store.ctx
        url, secret = self.store.run(notify.endpoint(ctx, ws))
        self._verify(admin, ws, TEST, body)
        event = events.event(events.TEST, ws, ctx.clock(), {"actor": admin.actor})
        outcome = webhooks.post(url, secret, event, self.policy)
        said = outcome.describe()
        self.store.run(notify.record_test(ctx, ws, said, outcome.ok, actor=admin.actor))
        # Answered 200 either way: the code was used, the page shows how the test went.
        return answer({"delivered": outcome.ok, "status": outcome.status, "detail": said})

    def context(self, ws: str) -> dict[str, Any]:
        return {"s": self.store.run(notify.settings(self.store.ctx, ws))}
