"""The Flask extension: ``KeystileAdmin(...).init_app(app, admin)`` adds the Tokens page.

It registers the templates and static files, adds the view to the Flask-Admin menu and
keeps its state in ``app.extensions["keystile"]``. It leaves the host's CSRF set-up alone:
the view signs and checks its own tokens with Flask-WTF's functions (not its global
``CSRFProtect`` hook), so a host with ``CSRFProtect`` (set up before or after this) keeps
checking its own routes exactly as it asked, and a host without Flask-WTF needs nothing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from flask import Blueprint, Flask
from flask_admin import Admin

from admin_plugin.identity import CurrentAdmin, from_callable
from admin_plugin.mailer import Mailer
from admin_plugin.otp_flow import OtpFlow
from admin_plugin.views import TokensView
from admin_plugin.views.base import no_framing
from admin_plugin.views.listing import check_page_size
from admin_plugin.views.panels import AUDIT_PER_PAGE, TOKENS_PER_PAGE
from policies import PolicyStore
from policies.errors import ConfigError, StoreUnavailable
from policies.notify.endpoints import EndpointPolicy
from policies.otp.codes import DEFAULT_POLICY, OtpPolicy

EXTENSION = "keystile"
MIN_SECRET_KEY = 32


@dataclass(frozen=True, slots=True)
class KeystileState:
    """What ``app.extensions["keystile"]`` holds."""

    store: PolicyStore
    flow: OtpFlow
    view: TokensView


class KeystileAdmin:
    def __init__(
        self,
        *,
        store: PolicyStore,
        current_admin: CurrentAdmin,
        mailer: Mailer,
        otp: OtpPolicy = DEFAULT_POLICY,
        name: str = "Tokens",
        category: str | None = None,
        endpoint: str = "keystile_tokens",
        url: str = "tokens",
        login_url: str | None = None,
        static_url_path: str = "/keystile-admin/static",
        product: str = "Keystile",
        view_class: type[TokensView] = TokensView,
        tokens_per_page: int = TOKENS_PER_PAGE,
        audit_per_page: int = AUDIT_PER_PAGE,
        endpoints: EndpointPolicy | None = None,
    ) -> None:
        self.store = store
        self.endpoints = endpoints  # where webhooks may go (policies.notify.endpoints)
        self.current_admin = from_callable(current_admin)
        self.flow = OtpFlow(store, mailer, otp, product=product)
        self.name, self.category, self.endpoint = name, category, endpoint
        self.url, self.login_url = url, login_url
        self.static_url_path = static_url_path
        self.view_class = view_class
        self.tokens_per_page = check_page_size(tokens_per_page, "tokens_per_page")
        self.audit_per_page = check_page_size(audit_per_page, "audit_per_page")

    def init_app(self, app: Flask, admin: Admin | None = None) -> TokensView:
        """Add the Tokens page to ``admin`` (a new Flask-Admin if None); returns the view."""
        if EXTENSION in app.extensions:
            raise ConfigError("Keystile's admin plugin is already set up on this app")
        with contextlib.suppress(StoreUnavailable):  # Redis away: the page answers 503
            self.store.deployment.check_digest_secret()  # changed: one clear error, not 401s later
        if not app.secret_key or len(app.secret_key) < MIN_SECRET_KEY:
            # It signs the session that holds the admin's CSRF secret: guessable, forgeable.
            raise ConfigError(
                f"the Tokens page needs the app's SECRET_KEY set first, of at least "
                f"{MIN_SECRET_KEY} characters (it signs sessions and CSRF tokens); e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        assets = Blueprint(
            "keystile_admin_assets",
            __name__,
            template_folder="templates",
            static_folder="static",
            static_url_path=self.static_url_path,
        )
        assets.after_request(no_framing)
        app.register_blueprint(assets)
        if admin is None:
            admin = Admin(app, name=EXTENSION.capitalize())
        view = self.view_class(
            store=self.store,
            current_admin=self.current_admin,
            otp_flow=self.flow,
            name=self.name,
            category=self.category,
            endpoint=self.endpoint,
            url=self.url,
            login_url=self.login_url,
            tokens_per_page=self.tokens_per_page,
            audit_per_page=self.audit_per_page,
            endpoints=self.endpoints,
        )
        admin.add_view(view)
        app.extensions[EXTENSION] = KeystileState(self.store, self.flow, view)
        return view
