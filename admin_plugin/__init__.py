"""Keystile's Tokens page: a Flask-Admin plugin over the shared policy store.

A host app adds it in a few lines (Flask-Admin's Bootstrap 4 theme, its default)::

    from flask import Flask
    from flask_admin import Admin
    from admin_plugin import AdminIdentity, KeystileAdmin, SmtpConfig, SmtpMailer
    from policies import PolicyStore, Settings
    from policies.storage.connections import sync_client

    settings = Settings.load()
    app = Flask(__name__)
    app.secret_key = "…"  # 32+ characters: signs sessions and CSRF tokens
    admin = Admin(app, name="Acme")
    KeystileAdmin(
        store=PolicyStore(sync_client(settings.redis_url), settings.keyring()),
        current_admin=lambda: AdminIdentity("42", "ops@acme.test", ("ws_…",)),
        mailer=SmtpMailer(SmtpConfig.from_mapping(settings.section("smtp", SmtpConfig))),
    ).init_app(app, admin)

``current_admin`` says who is signed in (None: nobody; the page is then refused): any
callable returning an :class:`AdminIdentity`, an object or a mapping with ``id``,
``email`` and ``workspaces``; with Flask-Login use ``flask_login_admin("workspaces")``.
Options: ``otp=OtpPolicy(ttl_seconds=300, …)``, ``name``/``category``/``url`` of the
menu entry, ``login_url`` (where the page sends a signed-out visitor),
``view_class`` (a :class:`TokensView` subclass, e.g. with a stricter ``is_accessible``),
``tokens_per_page`` (50) and ``audit_per_page`` (25): the long lists' page sizes,
``endpoints`` (a :class:`policies.notify.endpoints.EndpointPolicy`): where the security
notifications' webhooks may go (default: public https only).

The page lives at ``<admin url>/tokens/``; its script calls JSON routes below it (see
:mod:`admin_plugin.views`). Every unsafe request needs the page's CSRF token
(``X-CSRFToken``), whatever the host's global Flask-WTF settings are.
"""

from admin_plugin.extension import KeystileAdmin, KeystileState
from admin_plugin.identity import AdminIdentity, CurrentAdmin, flask_login_admin
from admin_plugin.mailer import Mailer, MailError, SmtpConfig, SmtpMailer
from admin_plugin.otp_flow import OtpFlow
from admin_plugin.views import TokensView
from policies.otp.codes import OtpPolicy

__all__ = [
    "AdminIdentity",
    "CurrentAdmin",
    "KeystileAdmin",
    "KeystileState",
    "MailError",
    "Mailer",
    "OtpFlow",
    "OtpPolicy",
    "SmtpConfig",
    "SmtpMailer",
    "TokensView",
    "flask_login_admin",
]
