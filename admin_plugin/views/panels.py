"""What the Tokens page shows: the workspace picker's choices and each list's panel.

Lists (tokens, secrets, rules, activity) are rendered by one template each, used both in
the page and as fragments the script fetches after a change, so escaping lives in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request, url_for

from admin_plugin.identity import AdminIdentity
from admin_plugin.views.keys import rule_label
from admin_plugin.views.leaks import panel as leak_panel
from admin_plugin.views.limits import rows
from admin_plugin.views.listing import ListState, check_page_size
from policies import PolicyStore
from policies.errors import UnknownWorkspace
from policies.times import format_time

PANELS = ("tokens", "secrets", "rules", "audit", "pk-limits", "sk-limits", "leaks", "notify")
# The two role keys' limits share one template; the panel's name says whose they are.
TEMPLATES = {"pk-limits": "limits", "sk-limits": "limits"}
_LIMITED = {
    "pk-limits": ("pk", "publishable", "publishable key"),
    "sk-limits": ("sk", "sdk", "SDK key"),
}
TOKENS_PER_PAGE = 50
AUDIT_PER_PAGE = 25


def when(timestamp: object, empty: str = "—") -> str:
    """Any stored time, never an error (a far-future expiry once made every page a 500)."""
    return format_time(timestamp, "%Y-%m-%d %H:%M UTC", empty)


class Panels:
    """The page's lists, read from the store for one workspace."""

    def __init__(self, store: PolicyStore, *, tokens_per_page: int, audit_per_page: int) -> None:
        self.store = store
        self.tokens_per_page = check_page_size(tokens_per_page, "tokens_per_page")
        self.audit_per_page = check_page_size(audit_per_page, "audit_per_page")
        self.notify: Callable[[str], dict[str, Any]] | None = None  # set by the view

    def choices(self, admin: AdminIdentity) -> list[tuple[str, str]]:
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

    def context(self, name: str, ws: str, state: ListState) -> dict[str, Any]:
        now = self.store.ctx.clock()
        if name == "tokens":
            page = self.store.token_page(ws, state.tokens)
            spark = self.store.daily_totals(ws, [t.key_id for t in page.items])
            catalog = self.store.load_catalog()
            limits = {
                owner[3:]: rows(found, catalog)
                for owner, found in self.store.limits.by_owner(ws).items()
                if owner.startswith("tk:")
            }
            return {
                "page": page,
                "now": now,
                "when": when,
                "state": state,
                "spark": spark,
                "limits": limits,
                "policy": self.store.lifetime.policy(ws),  # rows outside it are marked
            }
        if name == "leaks":
            return {**leak_panel(self.store, ws), "when": when}
        if name == "notify" and self.notify is not None:
            return {**self.notify(ws), "when": when}
        if name == "secrets":
            return {"secrets": self.store.secrets.names(ws)}
        if name == "rules":
            return {"rules": self.store.list_rules(ws), "rule_label": rule_label}
        if name in _LIMITED:
            owner, key, what = _LIMITED[name]
            found = self.store.limits.of(ws, owner)
            return {"rows": rows(found, self.store.load_catalog()), "key": key, "what": what}
        return {"page": self.store.audit_page(ws, state.audit), "when": when, "state": state}
