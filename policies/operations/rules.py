"""The publishable key's blacklist rules, and the catalog they are checked against."""

from __future__ import annotations

from policies import schema
from policies.calls import Batch, Command, Operation
from policies.catalog import Catalog
from policies.errors import CatalogError, UnknownWorkspace
from policies.operations.base import Context, apply_call, checked, require_workspace
from policies.rules import Rule, decode_all


def load_catalog(ctx: Context) -> Operation[Catalog | None]:
    raw = yield Command(("GET", schema.CATALOG))
    return None if raw is None else Catalog.from_json(schema.text(raw))


def require_catalog(ctx: Context) -> Operation[Catalog]:
    catalog = yield from load_catalog(ctx)
    if catalog is None:
        raise CatalogError("no catalog is loaded yet: run `keystile catalog load FILE` first")
    return catalog


def save_catalog(ctx: Context, catalog: Catalog) -> Operation[str]:
    """Store the catalog and tell every gateway (``catalog <fingerprint>``)."""
    fingerprint = catalog.fingerprint()
    yield Batch(
        (
            Command(("SET", schema.CATALOG, catalog.to_json())),
            Command(("PUBLISH", schema.EVENTS_CHANNEL, f"catalog {fingerprint}")),
        )
    )
    return fingerprint


def add_rule(ctx: Context, ws: str, rule: Rule, *, actor: str) -> Operation[bool]:
    """Blacklist ``rule`` for the publishable key. False if it was already there."""
    require_workspace(ws)
    (yield from require_catalog(ctx)).check_rule(rule)
    reply = yield apply_call(
        ctx,
        ws,
        [("SADD", schema.rules(ws), rule.encode(), "")],
        actor=actor,
        action="rule.added",
        detail={"rule": rule.encode()},
    )
    return checked(reply, ws) > 0


def remove_rule(ctx: Context, ws: str, rule: Rule, *, actor: str) -> Operation[bool]:
    """Lift ``rule``. False if there was no such rule."""
    require_workspace(ws)
    reply = yield apply_call(
        ctx,
        ws,
        [("SREM", schema.rules(ws), rule.encode(), "")],
        actor=actor,
        action="rule.removed",
        detail={"rule": rule.encode()},
    )
    return checked(reply, ws) > 0


def list_rules(ctx: Context, ws: str) -> Operation[list[Rule]]:
    members, exists = yield Batch(
        (
            Command(("SMEMBERS", schema.rules(require_workspace(ws)))),
            Command(("EXISTS", schema.meta(ws))),
        )
    )
    if not exists:
        raise UnknownWorkspace(ws)
    return sorted(decode_all(schema.text(m) for m in members))
