"""Allow-lists in the admin (:mod:`policies.restrictions`): the token form's scopes and
networks, and the SDK Access Key tab's Restrict section (behind a one-time password bound
to the lists asked for, as the token form's code is)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from flask import Response

from admin_plugin.identity import AdminIdentity
from admin_plugin.otp_flow import SDK_RESTRICT, OtpFlow
from admin_plugin.problems import Problem, bad_request
from admin_plugin.views.base import answer
from policies import PolicyStore
from policies.errors import CatalogError
from policies.keys.crypto import Keyring
from policies.restrictions import MAX_NETWORKS, MAX_SCOPES, check_networks, check_scopes

Allowed = tuple[str, ...] | None
_SEPARATORS = re.compile(r"[\s,]+")
_MAX_TEXT = 8000


@dataclass(frozen=True, slots=True)
class AllowLists:
    """What the form asked for, checked: None where it asked for no restriction."""

    scopes: Allowed = None
    networks: Allowed = None

    def encode(self) -> list[Any]:
        return [list(self.scopes or ()), list(self.networks or ())]

    def binding(self, keyring: Keyring) -> str:
        return keyring.digest(json.dumps(["keystile sdk restriction", self.encode()]))

    def describe(self) -> str:
        scopes = ", ".join(self.scopes) if self.scopes else "any action"
        networks = ", ".join(self.networks) if self.networks else "any network"
        return f"The SDK access key would then allow: {scopes}; from: {networks}."


UNRESTRICTED = AllowLists()


def allow_lists(store: PolicyStore, body: dict[str, Any]) -> AllowLists:
    """``scopes`` (a list of scopes) and ``networks`` (a list, or text with one range a line
    or comma-separated), both optional; a 400 (422 off the catalog) when wrong."""
    raw_scopes, raw_networks = body.get("scopes"), body.get("networks")
    if raw_scopes in (None, ""):
        raw_scopes = []
    if not isinstance(raw_scopes, list) or not all(isinstance(s, str) for s in raw_scopes):
        raise bad_request('Scopes must be a list such as ["projects.list", "billing:read"].')
    if len(raw_scopes) > MAX_SCOPES:
        raise bad_request(f"A key takes at most {MAX_SCOPES} scopes.")
    if raw_networks is None:
        raw_networks = []
    if isinstance(raw_networks, str):
        if len(raw_networks) > _MAX_TEXT:
            raise bad_request(f"At most {MAX_NETWORKS} networks, one a line.")
        raw_networks = [n for n in _SEPARATORS.split(raw_networks) if n]
    if not isinstance(raw_networks, list) or not all(isinstance(n, str) for n in raw_networks):
        raise bad_request("Networks are CIDR ranges, one a line, such as 203.0.113.0/24.")
    scopes = None
    if raw_scopes:
        catalog = store.load_catalog()
        if catalog is None:
            raise CatalogError("there is no catalog to check the scopes against")
        scopes = check_scopes(raw_scopes, catalog)
    networks = check_networks(raw_networks) if raw_networks else None
    return AllowLists(scopes, networks)


class RestrictionActions:
    """The SDK key's Restrict section."""

    def __init__(self, store: PolicyStore, flow: OtpFlow) -> None:
        self.store = store
        self.flow = flow

    def restrict_sdk_key(self, admin: AdminIdentity, ws: str, body: dict[str, Any]) -> Response:
        """``{scopes, networks, code}``: the code from ``api/otp`` (``sdk_key.restrict``,
        asked for these same lists). Without ``code`` the lists are only checked (400/422 if
        wrong, else 403 ``otp_required``)."""
        lists = allow_lists(self.store, body)
        if body.get("code") in (None, ""):
            raise Problem(
                403,
                "otp_required",
                "Code required",
                "Restricting the SDK access key needs a one-time password: ask for one "
                "(sdk_key.restrict).",
                action=SDK_RESTRICT,
            )
        bound = lists.binding(self.store.ctx.keyring)
        self.flow.verify(admin, ws, SDK_RESTRICT, body.get("code"), bound=bound)
        found = self.store.restrict_sdk_key(
            ws, scopes=lists.scopes, networks=lists.networks, actor=admin.actor
        )
        return answer({"scopes": found.scopes, "networks": found.networks})
