"""The synchronous store: what Flask, the CLI and scripts use to read and write policies.

A thin shell: each method drives one operation of :mod:`policies.operations` over a
blocking redis-py client. Actors (``"admin:alice@example.com"``, ``"cli"``) go to the audit log.
Its collaborators hold the rest: ``otp``, ``secrets``, ``lifetime``, ``limits`` and
``deployment`` (:mod:`.otp_store`, :mod:`.secret_store`, :mod:`.lifetime_store`,
:mod:`.limit_store`, :mod:`.deployment_store`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import redis

from policies.backup.document import MAX_AGE as MAX_BACKUP_AGE
from policies.catalog.catalog import Catalog
from policies.catalog.rules import Rule
from policies.keys.crypto import Keyring
from policies.limits.rate_limits import Limits
from policies.listing import AuditPage, AuditQuery, Page, TokenQuery
from policies.notify.endpoints import EndpointPolicy
from policies.operations import (
    audit,
    backup,
    listing,
    rules,
    token_filters,
    tokens,
    usage,
    workspaces,
)
from policies.operations import restrictions as restriction_ops
from policies.operations.base import Context
from policies.operations.restrictions import KEEP, Change, Restriction
from policies.storage.deployment_store import DeploymentStore
from policies.storage.lifetime_store import LifetimeStore
from policies.storage.limit_store import LimitStore
from policies.storage.otp_store import OtpStore
from policies.storage.runner import SyncRunner
from policies.storage.secret_store import SecretStore
from policies.storage.values import (
    AuditEntry,
    CreatedToken,
    CreatedWorkspace,
    Restored,
    TokenInfo,
    WorkspaceInfo,
)
from policies.usage.request_counts import Grain, Impact, Report, grain_for


class PolicyStore(SyncRunner):
    def __init__(
        self, client: redis.Redis, keyring: Keyring, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(client, ctx := Context(keyring, clock))
        self.otp = OtpStore(client, ctx)
        self.secrets = SecretStore(client, ctx)
        self.lifetime = LifetimeStore(client, ctx)
        self.limits = LimitStore(client, ctx)
        self.deployment = DeploymentStore(client, ctx)

    # -- workspaces and role keys ---------------------------------------------------
    def create_workspace(self, name: str, *, actor: str) -> CreatedWorkspace:
        return self.run(workspaces.create_workspace(self.ctx, name, actor=actor))

    def workspace(self, ws: str) -> WorkspaceInfo:
        return self.run(workspaces.workspace_info(self.ctx, ws))

    def list_workspaces(self) -> list[WorkspaceInfo]:
        return self.run(workspaces.list_workspaces(self.ctx))

    def publishable_key(self, ws: str) -> str:
        return self.run(workspaces.publishable_key(self.ctx, ws))

    def masked_sdk_key(self, ws: str) -> str:
        return self.run(workspaces.masked_sdk_key(self.ctx, ws))

    def reveal_sdk_key(self, ws: str, *, actor: str) -> str:
        return self.run(workspaces.reveal_sdk_key(self.ctx, ws, actor=actor))

    def rotate_publishable_key(self, ws: str, *, actor: str) -> str:
        return self.run(workspaces.rotate_publishable(self.ctx, ws, actor=actor))

    def roll_sdk_key(self, ws: str, *, actor: str, grace_seconds: float = 0) -> str:
        return self.run(
            workspaces.roll_sdk_key(self.ctx, ws, actor=actor, grace_seconds=grace_seconds)
        )

    def set_origins(self, ws: str, origins: Iterable[str], *, actor: str) -> None:
        self.run(workspaces.set_origins(self.ctx, ws, origins, actor=actor))

    # -- rules and catalog ----------------------------------------------------------
    def add_rule(self, ws: str, rule: Rule, *, actor: str) -> bool:
        return self.run(rules.add_rule(self.ctx, ws, rule, actor=actor))

    def remove_rule(self, ws: str, rule: Rule, *, actor: str) -> bool:
        return self.run(rules.remove_rule(self.ctx, ws, rule, actor=actor))

    def list_rules(self, ws: str) -> list[Rule]:
        return self.run(rules.list_rules(self.ctx, ws))

    def save_catalog(self, catalog: Catalog, *, actor: str = "system", force: bool = False) -> str:
        """Store the catalog (audited in the deployment's stream when it changes); one that
        disarms live rules, or an empty one, is refused unless ``force``."""
        return self.run(rules.save_catalog(self.ctx, catalog, actor=actor, force=force))

    def load_catalog(self) -> Catalog | None:
        return self.run(rules.load_catalog(self.ctx))

    # -- tokens ---------------------------------------------------------------------
    def create_token(
        self,
        ws: str,
        name: str,
        *,
        actor: str,
        expires: float | None = None,
        rules: Iterable[Rule] = (),
        limits: Limits | None = None,
        scopes: Iterable[str] | None = None,
        networks: Iterable[str] | None = None,
    ) -> CreatedToken:
        return self.run(
            tokens.create_token(
                self.ctx,
                ws,
                name,
                actor=actor,
                expires=expires,
                rules=rules,
                limits=limits,
                scopes=scopes,
                networks=networks,
            )
        )

    # -- allow-lists (policies.restrictions; KEEP leaves a list as it is, None lifts it) ---
    def restrict_token(
        self, ws: str, key_id: str, *, scopes: Change = KEEP, networks: Change = KEEP, actor: str
    ) -> TokenInfo:
        return self.run(
            restriction_ops.restrict_token(
                self.ctx, ws, key_id, scopes=scopes, networks=networks, actor=actor
            )
        )

    def sdk_restriction(self, ws: str) -> Restriction:
        return self.run(restriction_ops.sdk_restriction(self.ctx, ws))

    def restrict_sdk_key(
        self, ws: str, *, scopes: Change = KEEP, networks: Change = KEEP, actor: str
    ) -> Restriction:
        return self.run(
            restriction_ops.restrict_sdk_key(
                self.ctx, ws, scopes=scopes, networks=networks, actor=actor
            )
        )

    def list_tokens(self, ws: str) -> list[TokenInfo]:
        return self.run(tokens.list_tokens(self.ctx, ws))

    def has_token(self, ws: str, key_id: str) -> bool:
        return self.run(tokens.has_token(self.ctx, ws, key_id))

    def token_page(self, ws: str, query: TokenQuery) -> Page[TokenInfo]:
        return self.run(listing.token_page(self.ctx, ws, query))

    def index_tokens(self, ws: str) -> int:
        """The token filters' indexes complete (built if missing): how many tokens."""
        return self.run(token_filters.ensure_filters(self.ctx, ws))

    def tokens_by_id(self, ws: str, key_ids: list[str]) -> list[TokenInfo]:
        return self.run(listing.tokens_by_id(self.ctx, ws, key_ids))

    def revoke_token(self, ws: str, key_id: str, *, actor: str) -> TokenInfo:
        return self.run(tokens.revoke_token(self.ctx, ws, key_id, actor=actor))

    # -- audit ----------------------------------------------------------------------
    def audit(
        self, ws: str, actor: str, action: str, detail: dict[str, object] | None = None
    ) -> None:
        self.run(audit.append(self.ctx, ws, actor, action, detail))

    def audit_tail(self, ws: str, count: int = 20) -> list[AuditEntry]:
        return self.run(audit.tail(self.ctx, ws, count))

    def audit_page(self, ws: str, query: AuditQuery) -> AuditPage:
        return self.run(listing.audit_page(self.ctx, ws, query))

    # -- usage (counted by the gateways, see policies.usage.request_counts) --------------
    def usage(
        self, ws: str, *, since: float, subject: str | None = None, grain: Grain | None = None
    ) -> Report:
        """``subject``'s counts (``publishable``, ``sdk``, a token's key id; None: the
        workspace's) over the last ``since`` seconds, by ``grain`` (default: by span)."""
        grain = grain_for(since) if grain is None else grain
        return self.run(usage.report(self.ctx, ws, self.ctx.clock() - since, grain, subject))

    def daily_totals(self, ws: str, subjects: list[str], days: int = 7) -> dict[str, list[int]]:
        """Each key's requests per day over the last ``days`` days, oldest first."""
        return self.run(usage.daily_totals(self.ctx, ws, subjects, days))

    def rule_impact(self, ws: str, rule: Rule, *, span: float) -> Impact:
        """What ``rule`` would have refused over the last ``span`` seconds."""
        return self.run(usage.rule_impact(self.ctx, ws, rule, span))

    # -- backups --------------------------------------------------------------------
    def export_workspace(self, ws: str, *, actor: str) -> dict[str, Any]:
        return self.run(backup.export_workspace(self.ctx, ws, actor=actor))

    def import_workspace(
        self,
        document: Any,
        *,
        actor: str,
        apply_catalog: bool = False,
        unverified: bool = False,
        digest_secret: str | bytes | None = None,
        max_age: float = MAX_BACKUP_AGE,
        endpoints: EndpointPolicy | None = None,
    ) -> Restored:
        return self.run(
            backup.import_workspace(
                self.ctx,
                document,
                actor=actor,
                apply_catalog=apply_catalog,
                unverified=unverified,
                digest_secret=digest_secret,
                max_age=max_age,
                endpoints=endpoints,
            )
        )
