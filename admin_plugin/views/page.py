"""The Tokens page: one Flask-Admin view, its collaborators passed to the constructor.

In the manner of Flask-Admin's ``contrib/rediscli.py``: each action is an ``@expose``d
method that hands the request to a collaborator (:mod:`.keys`, :mod:`.tokens`,
:mod:`.limits`, :mod:`.usage`, :mod:`.panels`); access goes through ``is_accessible`` and
``inaccessible_callback``. The page carries the masked SDK key, never the key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request
from flask.typing import ResponseReturnValue
from flask_admin import BaseView
from flask_wtf.csrf import CSRFError, generate_csrf

from admin_plugin.identity import AdminIdentity, CurrentAdmin
from admin_plugin.otp_flow import OtpFlow
from admin_plugin.views.access import PageAccess
from admin_plugin.views.base import harden, json_body, route, run_view
from admin_plugin.views.index import IndexPage
from admin_plugin.views.keys import KeyActions
from admin_plugin.views.leaks import LeakActions
from admin_plugin.views.lifetime import LifetimeActions
from admin_plugin.views.limits import LimitActions
from admin_plugin.views.notify import ACTIONS as NOTIFY_ACTIONS
from admin_plugin.views.notify import NotifyActions
from admin_plugin.views.panels import AUDIT_PER_PAGE, TOKENS_PER_PAGE, Panels
from admin_plugin.views.restrictions import RestrictionActions
from admin_plugin.views.tokens import TokenActions
from admin_plugin.views.usage import UsageActions
from policies import PolicyStore
from policies.notify.endpoints import EndpointPolicy


class TokensView(BaseView):  # type: ignore[misc]  # flask_admin ships no type hints
    """The Tokens page: Flask-Admin view with the Tokens, SDK Access Key and Publishable
    Key tabs. Build it through :class:`admin_plugin.KeystileAdmin`."""

    html_views = frozenset({"index"})  # the rest answer JSON or fragments for scripts

    def __init__(
        self,
        *,
        store: PolicyStore,
        current_admin: CurrentAdmin,
        otp_flow: OtpFlow,
        name: str = "Tokens",
        category: str | None = None,
        endpoint: str = "keystile_tokens",
        url: str | None = "tokens",
        login_url: str | None = None,
        menu_icon: str = "fa-key",
        tokens_per_page: int = TOKENS_PER_PAGE,
        audit_per_page: int = AUDIT_PER_PAGE,
        keys: KeyActions | None = None,
        tokens: TokenActions | None = None,
        limits: LimitActions | None = None,
        usage: UsageActions | None = None,
        panels: Panels | None = None,
        lifetime: LifetimeActions | None = None,
        endpoints: EndpointPolicy | None = None,
    ) -> None:
        super().__init__(
            name=name,
            category=category,
            endpoint=endpoint,
            url=url,
            menu_icon_type="fa",
            menu_icon_value=menu_icon,
        )
        self.store = store
        self.flow = otp_flow
        self.access = PageAccess(current_admin, login_url)
        self.panels = panels or Panels(
            store, tokens_per_page=tokens_per_page, audit_per_page=audit_per_page
        )
        self.keys = keys or KeyActions(store, otp_flow)
        self.tokens = tokens or TokenActions(store, otp_flow)
        self.limits = limits or LimitActions(store, otp_flow)
        self.usage_reads = usage or UsageActions(store, otp_flow)
        self.lifetime = lifetime or LifetimeActions(store)
        self.leaks = LeakActions(store)
        self.restrictions = RestrictionActions(store, otp_flow)
        self.notify = NotifyActions(store, otp_flow, endpoints or EndpointPolicy())
        self.panels.notify = self.notify.context
        self.front = IndexPage(store, otp_flow, self.panels, self.lifetime)

    @property
    def tokens_per_page(self) -> int:
        return self.panels.tokens_per_page

    @property
    def audit_per_page(self) -> int:
        return self.panels.audit_per_page

    def create_blueprint(self, admin: Any) -> Any:
        blueprint = super().create_blueprint(admin)
        blueprint.after_request(harden)
        # A host that checks CSRF globally raises before our view runs: answer in kind.
        blueprint.register_error_handler(CSRFError, self.access.csrf_error)
        return blueprint

    # -- who is asking (:mod:`.access`) -------------------------------------------------
    def identity(self) -> AdminIdentity | None:
        return self.access.identity()

    def is_accessible(self) -> bool:
        return self.identity() is not None

    def inaccessible_callback(self, name: str, /, **kwargs: Any) -> ResponseReturnValue:
        return self.access.refusal(name in self.html_views)

    def _handle_view(self, name: str, /, **kwargs: Any) -> ResponseReturnValue | None:
        return self.access.admit(self, name, **kwargs)

    def _run_view(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return run_view(self, fn, fn.__name__ in self.html_views, *args, **kwargs)

    # -- what is asked ----------------------------------------------------------------
    def api_workspace(self) -> tuple[AdminIdentity, str]:
        """The admin and the workspace (``?ws=``) a script call acts on."""
        return self.access.api_workspace()

    def render(self, template: str, **kwargs: Any) -> str:
        # Our own name: a host's CSRFProtect adds a csrf_token() global, we do not need it.
        kwargs.setdefault("keystile_csrf_token", generate_csrf)
        rendered: str = super().render(template, **kwargs)
        return rendered

    def fragment(self, template: str, **context: Any) -> Response:
        return Response(self.render(template, **context), mimetype="text/html")

    # -- the page ---------------------------------------------------------------------
    @route("/")
    def index(self) -> ResponseReturnValue:
        context, status = self.front.context(self.access.signed_in())
        return self.render("keystile/tokens.html", **context), status

    @route("/panel/lifetime")
    def lifetime_panel(self) -> Response:
        _, ws = self.api_workspace()
        context = self.lifetime.context(ws, request.args, strict=True)
        return self.fragment("keystile/panels/lifetime.html", p=context)

    @route("/panel/<panel_name>")
    def panel(self, panel_name: str) -> Response:
        _, ws = self.api_workspace()
        template, context = self.front.panel(panel_name, ws)
        return self.fragment(template, p=context)

    # -- the actions (:mod:`.keys`, :mod:`.tokens`, :mod:`.limits`, :mod:`.usage`) -----
    @route("/api/otp", "POST")
    def send_code(self) -> Response:
        body = json_body()
        action = body.get("action")
        if isinstance(action, str) and action in NOTIFY_ACTIONS:
            return self.notify.send_code(*self.api_workspace(), body)
        return self.keys.send_code(*self.api_workspace(), body)

    @route("/api/sdk-key/reveal", "POST")
    def reveal_sdk_key(self) -> Response:
        return self.keys.reveal_sdk_key(*self.api_workspace(), json_body())

    @route("/api/sdk-key/roll", "POST")
    def roll_sdk_key(self) -> Response:
        return self.keys.roll_sdk_key(*self.api_workspace(), json_body())

    @route("/api/sdk-key/restrict", "POST")
    def restrict_sdk_key(self) -> Response:
        return self.restrictions.restrict_sdk_key(*self.api_workspace(), json_body())

    @route("/api/publishable-key/rotate", "POST")
    def rotate_publishable_key(self) -> Response:
        return self.keys.rotate_publishable_key(*self.api_workspace())

    @route("/api/catalog")
    def catalog(self) -> Response:
        self.api_workspace()
        return self.keys.catalog()

    @route("/api/rules", "POST")
    def add_rule(self) -> Response:
        return self.keys.add_rule(*self.api_workspace(), json_body())

    @route("/api/rules/<module>/<functionality>", "DELETE")
    def remove_rule(self, module: str, functionality: str) -> Response:
        return self.keys.remove_rule(*self.api_workspace(), module, functionality)

    @route("/api/tokens", "POST")
    def create_token(self) -> Response:
        return self.tokens.create_token(*self.api_workspace(), json_body())

    @route("/api/tokens/<key_id>", "DELETE")
    def revoke_token(self, key_id: str) -> Response:
        return self.tokens.revoke_token(*self.api_workspace(), key_id)

    @route("/api/tokens/revoke-unused", "POST")
    def revoke_unused_tokens(self) -> Response:
        return self.lifetime.revoke_unused(*self.api_workspace(), json_body())

    @route("/api/lifetime-policy", "POST")
    def set_lifetime_policy(self) -> Response:
        return self.lifetime.set_policy(*self.api_workspace(), json_body())

    @route("/api/secrets", "POST")
    def add_secret(self) -> Response:
        return self.tokens.add_secret(*self.api_workspace(), json_body())

    @route("/api/secrets/reveal", "POST")
    def reveal_secret(self) -> Response:
        return self.tokens.reveal_secret(*self.api_workspace(), json_body())

    @route("/api/secrets/<secret>", "DELETE")
    def delete_secret(self, secret: str) -> Response:
        return self.tokens.delete_secret(*self.api_workspace(), secret)

    @route("/api/limits", "POST")
    def set_limits(self) -> Response:
        return self.limits.set_limits(*self.api_workspace(), json_body())

    @route("/api/limits/<key>/<scope>", "DELETE")
    def remove_limits(self, key: str, scope: str) -> Response:
        return self.limits.remove_limits(*self.api_workspace(), key, scope)

    @route("/api/leak-policy", "POST")
    def set_leak_policy(self) -> Response:
        return self.leaks.set_policy(*self.api_workspace(), json_body())

    @route("/api/usage")
    def usage(self) -> Response:
        _, ws = self.api_workspace()
        return self.usage_reads.usage(ws)

    @route("/api/usage/impact")
    def impact(self) -> Response:
        _, ws = self.api_workspace()
        return self.usage_reads.impact(ws)

    # -- security notifications (:mod:`.notify`) ----------------------------------------
    @route("/api/notify/endpoint", "POST")
    def set_notify_endpoint(self) -> Response:
        return self.notify.set_endpoint(*self.api_workspace(), json_body())

    @route("/api/notify/endpoint", "DELETE")
    def remove_notify_endpoint(self) -> Response:
        return self.notify.remove_endpoint(*self.api_workspace())

    @route("/api/notify/secret", "POST")
    def rotate_notify_secret(self) -> Response:
        return self.notify.rotate_secret(*self.api_workspace(), json_body())

    @route("/api/notify/emails", "POST")
    def set_notify_emails(self) -> Response:
        return self.notify.set_emails(*self.api_workspace(), json_body())

    @route("/api/notify/test", "POST")
    def send_notify_test(self) -> Response:
        return self.notify.send_test(*self.api_workspace(), json_body())
