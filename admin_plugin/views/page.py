"""The Tokens page itself: three tabs, the workspace picker, the activity panel.

The page carries the masked SDK key, never the key; the publishable key is shown at once.
Lists (tokens, secrets, rules, activity) are rendered by one template each, used both in
the page and as fragments the script fetches after a change, so escaping lives in one place.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request, session, url_for
from flask.typing import ResponseReturnValue

from admin_plugin.identity import AdminIdentity
from admin_plugin.problems import not_found
from admin_plugin.views.base import route
from admin_plugin.views.keys import GRACE_CHOICES, KeyRoutes, rule_label
from admin_plugin.views.limits import LimitRoutes, rows
from admin_plugin.views.listing import ListState, check_page_size
from admin_plugin.views.tokens import TokenRoutes
from admin_plugin.views.usage import RANGES, UsageRoutes
from policies.errors import StoreUnavailable, UnknownWorkspace
from policies.times import format_time

PANELS = ("tokens", "secrets", "rules", "audit", "pk-limits", "sk-limits")
# The two role keys' limits share one template; the panel's name says whose they are.
_TEMPLATES = {"pk-limits": "limits", "sk-limits": "limits"}
_LIMITED = {
    "pk-limits": ("pk", "publishable", "publishable key"),
    "sk-limits": ("sk", "sdk", "SDK key"),
}
TOKENS_PER_PAGE = 50
AUDIT_PER_PAGE = 25
_SESSION_WS = "keystile.workspace"


def when(timestamp: object, empty: str = "—") -> str:
    """Any stored time, never an error (a far-future expiry once made every page a 500)."""
    return format_time(timestamp, "%Y-%m-%d %H:%M UTC", empty)


class TokensView(KeyRoutes, TokenRoutes, UsageRoutes, LimitRoutes):
    """The Tokens page: Flask-Admin view with the Tokens, SDK Access Key and Publishable
    Key tabs. Build it through :class:`admin_plugin.KeystileAdmin`."""

    def __init__(
        self,
        *,
        tokens_per_page: int = TOKENS_PER_PAGE,
        audit_per_page: int = AUDIT_PER_PAGE,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.tokens_per_page = check_page_size(tokens_per_page, "tokens_per_page")
        self.audit_per_page = check_page_size(audit_per_page, "audit_per_page")

    def _choices(self, admin: AdminIdentity) -> list[tuple[str, str]]:
        choices = []
        for ws in admin.workspaces:
            try:
                choices.append((ws, self.store.workspace(ws).name))
            except UnknownWorkspace:
                choices.append((ws, f"{ws} (missing)"))
        return choices

    def list_state(self, ws: str, *, strict: bool) -> ListState:
        return ListState.parse(
            url_for(".index"),
            ws,
            request.args,
            tokens_per_page=self.tokens_per_page,
            audit_per_page=self.audit_per_page,
            strict=strict,
        )

    def panel_context(self, name: str, ws: str, state: ListState) -> dict[str, Any]:
        now = self.store.ctx.clock()
        if name == "tokens":
            page = self.store.token_page(ws, state.tokens)
            spark = self.store.daily_totals(ws, [t.key_id for t in page.items])
            limits = {
                owner[3:]: rows(found)
                for owner, found in self.store.list_limits(ws).items()
                if owner.startswith("tk:")
            }
            return {
                "page": page,
                "now": now,
                "when": when,
                "state": state,
                "spark": spark,
                "limits": limits,
            }
        if name == "secrets":
            return {"secrets": self.store.list_secrets(ws)}
        if name == "rules":
            return {"rules": self.store.list_rules(ws), "rule_label": rule_label}
        if name in _LIMITED:
            owner, key, what = _LIMITED[name]
            return {"rows": rows(self.store.limits(ws, owner)), "key": key, "what": what}
        return {"page": self.store.audit_page(ws, state.audit), "when": when, "state": state}

    @route("/")
    def index(self) -> ResponseReturnValue:
        admin = self.signed_in()
        requested = request.args.get("ws", "")
        context: dict[str, Any] = {"admin": admin, "ws": None, "error": None, "choices": []}
        status = 200
        remembered = session.get(_SESSION_WS)
        if requested and not admin.manages(requested):
            context["error"], status = "You do not manage that workspace.", 403
        elif requested:
            context["ws"] = requested
        elif isinstance(remembered, str) and admin.manages(remembered):
            context["ws"] = remembered
        elif admin.workspaces:
            context["ws"] = admin.workspaces[0]
        else:
            context["error"] = "You manage no workspace yet: ask an owner to add you to one."
        ws = context["ws"]
        try:
            context["choices"] = self._choices(admin)
            if ws is not None:
                session[_SESSION_WS] = ws
                context.update(
                    workspace=self.store.workspace(ws),
                    masked_sdk_key=self.store.masked_sdk_key(ws),
                    publishable_key=self.store.publishable_key(ws),
                    grace_choices=GRACE_CHOICES,
                    usage_ranges=list(RANGES),
                    otp_minutes=round(self.flow.policy.ttl_seconds / 60),
                    panels={
                        name: self.panel_context(name, ws, self.list_state(ws, strict=False))
                        for name in PANELS
                    },
                )
        except UnknownWorkspace:
            context.update(ws=None, error="That workspace does not exist in this key store.")
            status = 404
        except StoreUnavailable:
            context.update(ws=None, error="The key store cannot be reached: try again shortly.")
            status = 503
        return self.render("keystile/tokens.html", **context), status

    @route("/panel/<panel_name>")
    def panel(self, panel_name: str) -> Response:
        _, ws = self.api_workspace()
        if panel_name not in PANELS:
            raise not_found(f"There is no panel {panel_name!r}.")
        context = self.panel_context(panel_name, ws, self.list_state(ws, strict=True))
        template = _TEMPLATES.get(panel_name, panel_name)
        return self.fragment(f"keystile/panels/{template}.html", p=context)
