"""Helpers for the admin plugin's tests: a host app, a real SMTP inbox, a JSON client."""

from __future__ import annotations

import email
import email.policy
import queue
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Flask
from flask.testing import FlaskClient
from flask_admin import Admin
from werkzeug.test import TestResponse

from admin_plugin import AdminIdentity, KeystileAdmin, Mailer, OtpPolicy, TokensView
from policies import InvalidKey, KeyPolicy, PolicyStore
from policies.operations import lookup as store_lookup

CODE_RE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)
CSRF_RE = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
BASE = "/admin/tokens/"
HOST_SECRET = "test-secret-key-for-sessions-and-csrf-tokens"  # init_app wants 32+ characters

ALICE_EMAIL = "alice@acme.test"


def code_in(text: str) -> str:
    match = CODE_RE.search(text)
    assert match, "no code in the mail"
    return match.group(1)


def gateway_lookup(store: PolicyStore, key: str) -> KeyPolicy | None:
    """What the gateway's one-round-trip lookup says of ``key`` (None: refused)."""
    try:
        return store.run(store_lookup.lookup(store.ctx, key))
    except InvalidKey:
        return None


class Inbox:
    """An aiosmtpd handler: each accepted message goes to a queue the test waits on."""

    def __init__(self) -> None:
        self.messages: queue.Queue[EmailMessage] = queue.Queue()
        self.refuse_with: str | None = None  # e.g. "550 mailbox unavailable"

    def reset(self) -> None:
        self.refuse_with = None
        while not self.messages.empty():
            self.messages.get_nowait()

    async def handle_RCPT(  # noqa: N802 - the hook names are aiosmtpd's
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.refuse_with:
            return self.refuse_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.put(message)
        return "250 Message accepted for delivery"

    def next(self, timeout: float = 10) -> EmailMessage:
        """The next message; waits for its arrival (raises queue.Empty after ``timeout``)."""
        return self.messages.get(timeout=timeout)

    def next_text(self, to: str | None = None, timeout: float = 10) -> str:
        """The plain-text body of the next message (checking its recipient)."""
        message = self.next(timeout)
        if to is not None:
            assert message["To"] == to
        body = message.get_body(("plain",))
        assert isinstance(body, EmailMessage)
        text: str = body.get_content()
        return text

    def next_code(self, to: str | None = None, timeout: float = 10) -> str:
        return code_in(self.next_text(to, timeout))

    def is_empty(self) -> bool:
        return self.messages.empty()


@dataclass
class Who:
    """The host's notion of who is signed in; tests change it between requests."""

    admin: AdminIdentity | None

    def __call__(self) -> AdminIdentity | None:
        return self.admin


def make_host_app(
    store: PolicyStore,
    who: Callable[[], Any],
    mailer: Mailer,
    *,
    otp: OtpPolicy | None = None,
    view_class: type[TokensView] = TokensView,
    login_url: str | None = None,
    **options: Any,
) -> Flask:
    """What a host app writes: Flask, Flask-Admin, then Keystile's few lines."""
    app = Flask("host")
    app.secret_key = HOST_SECRET
    admin = Admin(app, name="Acme Admin")
    KeystileAdmin(
        store=store,
        current_admin=who,
        mailer=mailer,
        otp=otp or OtpPolicy(),
        view_class=view_class,
        login_url=login_url,
        **options,
    ).init_app(app, admin)
    return app


@dataclass
class Api:
    """The page's script, as a test client: CSRF header and ``?ws=`` on every call."""

    client: FlaskClient
    ws: str
    csrf: str = field(default="")

    def page(self, query: str = "") -> TestResponse:
        response = self.client.get(BASE + query)
        match = CSRF_RE.search(response.get_data(as_text=True))
        if match:
            self.csrf = match.group(1)
        return response

    def _url(self, path: str) -> str:
        return f"{BASE}{path}?ws={self.ws}"

    def get(self, path: str) -> TestResponse:
        return self.client.get(self._url(path))

    def post(self, path: str, body: Any = None, *, csrf: bool = True) -> TestResponse:
        headers = {"X-CSRFToken": self.csrf} if csrf else {}
        return self.client.post(self._url(path), json=body or {}, headers=headers)

    def delete(self, path: str, *, csrf: bool = True) -> TestResponse:
        headers = {"X-CSRFToken": self.csrf} if csrf else {}
        return self.client.delete(self._url(path), headers=headers)
