"""What every route of the Tokens view shares: collaborators, access, CSRF, answers.

In the manner of Flask-Admin's ``contrib/rediscli.py``: collaborators come in through the
constructor, each action is an ``@expose``d method, access goes through ``is_accessible``
and ``inaccessible_callback``. Routes other than the page answer JSON (errors as problem
documents, :mod:`admin_plugin.problems`) or small HTML fragments for the page to swap in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Response, abort, current_app, g, json, redirect, request
from flask.typing import ResponseReturnValue
from flask_admin import BaseView, expose
from flask_wtf.csrf import CSRFError, generate_csrf, same_origin, validate_csrf
from werkzeug.exceptions import HTTPException
from wtforms import ValidationError

from admin_plugin.identity import AdminIdentity, CurrentAdmin
from admin_plugin.otp_flow import OtpFlow
from admin_plugin.problems import Problem, bad_request, forbidden, from_exception
from policies import PolicyStore
from policies.errors import KeystileError

F = TypeVar("F", bound=Callable[..., Any])
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRFToken"  # what the page's script sends (Flask-WTF's default header)
_ADMIN = "_keystile_admin"


def route(url: str, *methods: str) -> Callable[[F], F]:
    """Flask-Admin's ``expose``, typed (methods default to GET)."""
    decorator: Callable[[F], F] = expose(url, methods or ("GET",))
    return decorator


def csrf_problem(reason: str) -> Problem:
    return Problem(
        400,
        "csrf",
        "Security token missing or expired",
        f"{reason} Reload the page and try again.",
    )


def is_unicode(body: Any) -> bool:
    """Whether every string in ``body`` can be UTF-8 (JSON's ``"\\ud800"`` cannot)."""
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        # Dropped, not chained into the 400: it carries the whole body, secrets included.
        return False
    return True


def check_csrf() -> None:
    """Raise CSRFError unless the request carries this session's token (and, over HTTPS,
    comes from this origin): Flask-WTF's own check, for every unsafe method whatever the
    host's ``WTF_CSRF_METHODS`` and ``WTF_CSRF_CHECK_DEFAULT`` say."""
    try:
        validate_csrf(request.headers.get(CSRF_HEADER))
    except ValidationError as exc:
        raise CSRFError(str(exc.args[0])) from None
    if request.is_secure and current_app.config.get("WTF_CSRF_SSL_STRICT", True):
        referrer = request.referrer
        if not referrer or not same_origin(referrer, f"https://{request.host}/"):
            raise CSRFError("The referrer does not match the host.")


# No inline script or style on the page (settings travel in data-* attributes), so the
# policy can be this strict; data: images are Bootstrap's form icons.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def no_framing(response: Response) -> Response:
    """No page of another origin may frame ours (clickjacking): CSP for today's browsers,
    X-Frame-Options for older ones."""
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def harden(response: Response) -> Response:
    """Nothing this view answers may be cached (pages and replies may carry keys) or framed."""
    no_framing(response)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


class KeystileView(BaseView):  # type: ignore[misc]  # flask_admin ships no type hints
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
        self.current_admin = current_admin
        self.flow = otp_flow
        self.login_url = login_url

    def create_blueprint(self, admin: Any) -> Any:
        blueprint = super().create_blueprint(admin)
        blueprint.after_request(harden)
        # A host that checks CSRF globally raises before our view runs: answer in kind.
        blueprint.register_error_handler(CSRFError, self._csrf_error)
        return blueprint

    def _csrf_error(self, error: CSRFError) -> ResponseReturnValue:
        return csrf_problem(str(error.description)).response()

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

    def is_accessible(self) -> bool:
        return self.identity() is not None

    def inaccessible_callback(self, name: str, /, **kwargs: Any) -> ResponseReturnValue:
        if name not in self.html_views:
            if self.identity() is None:
                return forbidden("Sign in as a Keystile admin to use this page.").response()
            return forbidden("Your account may not use the Tokens page.").response()
        if self.login_url and self.identity() is None:
            return redirect(f"{self.login_url}?{urlencode({'next': request.full_path})}")
        abort(403)

    def _handle_view(self, name: str, /, **kwargs: Any) -> ResponseReturnValue | None:
        try:
            accessible = self.is_accessible()
        except KeystileError as exc:  # the host's identity is unusable (e.g. a bad email)
            return from_exception(exc).response()
        if not accessible:
            return self.inaccessible_callback(name, **kwargs)
        if request.method not in SAFE_METHODS:
            try:
                check_csrf()
            except CSRFError as exc:
                return csrf_problem(str(exc.description)).response()
        return None

    def _run_view(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except HTTPException:
            raise
        except Exception as exc:
            if fn.__name__ in self.html_views:
                raise
            return from_exception(exc).response()

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

    @staticmethod
    def json_body() -> dict[str, Any]:
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # deep nesting; silent=True only covers ValueError
            body = None
        if not isinstance(body, dict):
            raise bad_request("Send a JSON object.")
        if not is_unicode(body):
            raise bad_request("Text must be valid Unicode: no lone surrogates such as \\ud800.")
        return body

    @staticmethod
    def text(body: dict[str, Any], name: str, label: str, *, required: bool = True) -> str:
        value = body.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise bad_request(f"{label} must be text.")
        if required and not value.strip():
            raise bad_request(f"{label} is required.")
        return value

    @staticmethod
    def answer(data: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(data), status=status, mimetype="application/json")

    def render(self, template: str, **kwargs: Any) -> str:
        # Our own name: a host's CSRFProtect adds a csrf_token() global, we do not need it.
        kwargs.setdefault("keystile_csrf_token", generate_csrf)
        rendered: str = super().render(template, **kwargs)
        return rendered

    def fragment(self, template: str, **context: Any) -> Response:
        return Response(self.render(template, **context), mimetype="text/html")
