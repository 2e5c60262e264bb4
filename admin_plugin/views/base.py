"""What every route of the Tokens view shares: CSRF, security headers, reading a request
and answering JSON (errors as problem documents, :mod:`admin_plugin.problems`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, json, request
from flask_admin import expose
from flask_wtf.csrf import CSRFError, same_origin, validate_csrf
from werkzeug.exceptions import HTTPException
from wtforms import ValidationError

from admin_plugin.problems import Problem, bad_request, from_exception

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


def json_body() -> dict[str, Any]:
    """The request's JSON object (a 400 problem for anything else)."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # deep nesting; silent=True only covers ValueError
        body = None
    if not isinstance(body, dict):
        raise bad_request("Send a JSON object.")
    if not is_unicode(body):
        raise bad_request("Text must be valid Unicode: no lone surrogates such as \\ud800.")
    return body


def text(body: dict[str, Any], name: str, label: str, *, required: bool = True) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise bad_request(f"{label} must be text.")
    if required and not value.strip():
        raise bad_request(f"{label} is required.")
    return value


def answer(data: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def run_view(view: Any, fn: Callable[..., Any], html: bool, *args: Any, **kwargs: Any) -> Any:
    """Run a route of ``view``: a script's call that fails gets its problem document (an
    HTML page's failure, like Flask's own HTTP errors, propagates)."""
    try:
        return fn(view, *args, **kwargs)
    except HTTPException:
        raise
    except Exception as exc:
        if html:
            raise
        return from_exception(exc).response()
