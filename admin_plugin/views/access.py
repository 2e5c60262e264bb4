"""Who may use the Tokens page: the signed-in admin (asked of the host once per request),
the workspace a script call acts on, and the answer to a visitor the page refuses."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import abort, g, redirect, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from admin_plugin.identity import AdminIdentity, CurrentAdmin
from admin_plugin.problems import bad_request, forbidden, from_exception
from admin_plugin.views.base import SAFE_METHODS, check_csrf, csrf_problem
from policies.errors import KeystileError

_ADMIN = "_keystile_admin"


class PageAccess:
    """The Tokens view's gatekeeper: who is asking, for which workspace, and the refusals."""

    def __init__(self, current_admin: CurrentAdmin, login_url: str | None = None) -> None:
        self.current_admin = current_admin
        self.login_url = login_url

    # -- who is asking ----------------------------------------------------------------
    def identity(self) -> AdminIdentity | None:
        """The signed-in admin, asked of the host once per request."""
        if _ADMIN not in g:
            setattr(g, _ADMIN, AdminIdentity.coerce(self.current_admin()))
        found: AdminIdentity | None = getattr(g, _ADMIN)
        return found

    def signed_in(self) -> AdminIdentity:
        admin = self.identity()
        if admin is None:
            raise forbidden("Sign in as a Keystile admin to use this page.")
        return admin

    # -- what is asked ----------------------------------------------------------------
    def api_workspace(self) -> tuple[AdminIdentity, str]:
        """The admin and the workspace (``?ws=``) a script call acts on."""
        admin = self.signed_in()
        ws = request.args.get("ws", "")
        if not ws:
            raise bad_request("Say which workspace this is for (?ws=…).")
        if not admin.manages(ws):
            raise forbidden("You do not manage this workspace.")
        return admin, ws

    # -- the refusals -----------------------------------------------------------------
    def refusal(self, html: bool) -> ResponseReturnValue:
        """For a visitor who may not use the page: a problem for a script's call, else the
        sign-in page (``login_url``, when nobody is signed in) or a 403."""
        if not html:
            if self.identity() is None:
                return forbidden("Sign in as a Keystile admin to use this page.").response()
            return forbidden("Your account may not use the Tokens page.").response()
        if self.login_url and self.identity() is None:
            return redirect(f"{self.login_url}?{urlencode({'next': request.full_path})}")
        abort(403)

    def admit(self, view: Any, name: str, /, **kwargs: Any) -> ResponseReturnValue | None:
        """Flask-Admin's ``_handle_view``: None lets the request through. The view's own
        ``is_accessible`` decides (a host's subclass may tighten it), then the CSRF token."""
        try:
            accessible = view.is_accessible()
        except KeystileError as exc:  # the host's identity is unusable (e.g. a bad email)
            return from_exception(exc).response()
        if not accessible:
            refused: ResponseReturnValue = view.inaccessible_callback(name, **kwargs)
            return refused
        return self.csrf_refusal()

    @staticmethod
    def csrf_error(error: CSRFError) -> ResponseReturnValue:
        """A host that checks CSRF globally raises before our view runs: answer in kind."""
        return csrf_problem(str(error.description)).response()

    @staticmethod
    def csrf_refusal() -> ResponseReturnValue | None:
        """A problem for an unsafe request without this session's CSRF token, else None."""
        if request.method not in SAFE_METHODS:
            try:
                check_csrf()
            except CSRFError as exc:
                return csrf_problem(str(exc.description)).response()
        return None
