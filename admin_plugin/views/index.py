"""The page itself (``/``): which workspace it shows, what its three tabs render, and its
panels' fragments."""

from __future__ import annotations

from typing import Any

from flask import request, session

from admin_plugin.identity import AdminIdentity
from admin_plugin.otp_flow import OtpFlow
from admin_plugin.problems import not_found
from admin_plugin.views.keys import GRACE_CHOICES
from admin_plugin.views.lifetime import LifetimeActions
from admin_plugin.views.panels import PANELS, TEMPLATES, Panels
from admin_plugin.views.usage import RANGES
from policies import PolicyStore
from policies.errors import StoreUnavailable, UnknownWorkspace

_SESSION_WS = "keystile.workspace"


class IndexPage:
    """The Tokens page's context: the workspace asked for (``?ws=``), else the one this
    session last showed, else the admin's first; with its keys, panels and settings."""

    def __init__(
        self, store: PolicyStore, flow: OtpFlow, panels: Panels, lifetime: LifetimeActions
    ) -> None:
        self.store = store
        self.flow = flow
        self.panels = panels
        self.lifetime = lifetime

    def context(self, admin: AdminIdentity) -> tuple[dict[str, Any], int]:
        """The template's context and the page's status."""
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
        panels = self.panels
        try:
            context["choices"] = panels.choices(admin)
            if ws is not None:
                session[_SESSION_WS] = ws
                context.update(
                    workspace=self.store.workspace(ws),
                    masked_sdk_key=self.store.masked_sdk_key(ws),
                    sdk_restriction=self.store.sdk_restriction(ws),
                    publishable_key=self.store.publishable_key(ws),
                    grace_choices=GRACE_CHOICES,
                    usage_ranges=list(RANGES),
                    otp_minutes=round(self.flow.policy.ttl_seconds / 60),
                    panels={
                        name: panels.context(name, ws, panels.list_state(ws, strict=False))
                        for name in PANELS
                    },
                    lifetime=self.lifetime.context(ws, request.args, strict=False),
                )
        except UnknownWorkspace:
            context.update(ws=None, error="That workspace does not exist in this key store.")
            status = 404
        except StoreUnavailable:
            context.update(ws=None, error="The key store cannot be reached: try again shortly.")
            status = 503
        return context, status

    def panel(self, panel_name: str, ws: str) -> tuple[str, dict[str, Any]]:
        """One panel's template and context, as its script reloads it."""
        if panel_name not in PANELS:
            raise not_found(f"There is no panel {panel_name!r}.")
        context = self.panels.context(panel_name, ws, self.panels.list_state(ws, strict=True))
        template = TEMPLATES.get(panel_name, panel_name)
        return f"keystile/panels/{template}.html", context
