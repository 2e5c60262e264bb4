"""The publishable key's blacklist rules, and the catalog they are checked against."""

from __future__ import annotations

from policies.catalog.catalog import Catalog
from policies.catalog.rules import Rule, decode_all
from policies.errors import CatalogError, UnknownWorkspace
from policies.limits.rate_limits import LimitError, Limits, dead_actions
from policies.operations.base import Context, apply_call, checked, require_workspace
from policies.operations.live_scopes import dead_scopes
from policies.storage import schema
from policies.storage.audit_fields import audit_fields
from policies.storage.driver import Batch, Command, Operation
from policies.storage.lua_deployment import CATALOG_SAVE


def load_catalog(ctx: Context) -> Operation[Catalog | None]:
    text = yield from load_catalog_text(ctx)
    return None if text is None else Catalog.from_json(text)


def load_catalog_text(ctx: Context) -> Operation[str | None]:
    """The stored catalog's JSON, unparsed (a gateway parses it off its event loop)."""
    raw = yield Command(("GET", schema.CATALOG))
    return None if raw is None else schema.text(raw)


def require_catalog(ctx: Context) -> Operation[Catalog]:
    catalog = yield from load_catalog(ctx)
    if catalog is None:
        raise CatalogError("no catalog is loaded yet: run `keystile catalog load FILE` first")
    return catalog


_STEP = 1000  # tokens read per HSCAN step
_NO_RULES = '"rules":[]'  # in a stored token record (schema.dump) without rules
_LISTED = 20  # disarmed rules named in a refusal; the rest are counted


def save_catalog(
    ctx: Context, catalog: Catalog, *, actor: str = "system", force: bool = False
) -> Operation[str]:
    """Store the catalog and tell every gateway (``catalog <fingerprint>``); a change is
    recorded in the deployment's audit stream, in the same step.

    A catalog that would disarm live rules (publishable-key rules or token rules naming a
    module or functionality it no longer has), live per-action rate limits (naming an
    action it no longer has) or live allow-listed scopes (:mod:`policies.restrictions`),
    or an empty one, is refused unless ``force``: such a rule would silently stop blocking
    anything, such a limit stop counting, such a scope allow nothing.
    """
    rules, limits = yield from disarmed(ctx, catalog)
    scopes = yield from dead_scopes(ctx, catalog)
    if not force and (rules or limits or scopes or not catalog.modules):
        what = "; and ".join(
            f"it would disarm live {kind}: {_listed(found)}"
            for kind, found in (("rules", rules), ("rate limits", limits), ("scopes", scopes))
            if found
        )
        raise CatalogError(
            f"catalog refused: {what or 'it is empty'} (force it to store it anyway)"
        )
    fingerprint = catalog.fingerprint()
    raw = yield Command(("GET", schema.CATALOG))
    try:
        previous = None if raw is None else Catalog.from_json(schema.text(raw)).fingerprint()
    except CatalogError:  # a damaged catalog is being replaced: say so, do not stop
        previous = "unreadable"
    detail = {
        "fingerprint": fingerprint,
        "previous": previous,
        "modules": len(catalog.modules),
        "disarmed": len(rules),
        "disarmed_limits": len(limits),
        "disarmed_scopes": len(scopes),
    }
    fields = audit_fields(actor, "catalog.loaded", "-", ctx.clock(), detail)
    yield CATALOG_SAVE.call(
        (schema.CATALOG, schema.DEPLOYMENT_AUDIT),
        catalog=catalog.to_json(),
        channel=schema.EVENTS_CHANNEL,
        fingerprint=fingerprint,
        maxlen=schema.AUDIT_MAXLEN,
        audit=list(fields),
    )
    return fingerprint


def _listed(found: list[str]) -> str:
    more = f" and {len(found) - _LISTED} more" if len(found) > _LISTED else ""
    return "; ".join(found[:_LISTED]) + more


def disarmed(ctx: Context, catalog: Catalog) -> Operation[tuple[list[str], list[str]]]:
    """The live rules and per-action rate limits ``catalog`` does not know. Rules as
    ``"W: module:functionality"`` for the publishable key's, ``"W token KID: ..."`` for an
    active token's; limits as ``"W publishable key: module.functionality 10/min"`` (``SDK
    key``, ``token KID``). The tokens are read in HSCAN steps (never a whole hash at once),
    keeping only what has rules or limits."""
    members = yield Command(("SMEMBERS", schema.WORKSPACES))
    workspaces = sorted(schema.text(m) for m in members)
    reads = (("SMEMBERS", schema.rules), ("HGETALL", schema.limits))
    replies = yield Batch(
        tuple(Command((command, key(ws))) for ws in workspaces for command, key in reads)
    )
    rules: list[str] = []
    limits: list[str] = []
    for index, ws in enumerate(workspaces):
        rules_reply, limits_reply = replies[2 * index : 2 * index + 2]
        limited = dict(schema.pairs(limits_reply))
        owned = [(ws, rule) for rule in sorted(decode_all(schema.text(r) for r in rules_reply))]
        live = {"pk": "publishable key", "sk": "SDK key"}
        cursor = "0"
        while True:
            cursor, batch = yield Command(("HSCAN", schema.tokens(ws), cursor, "COUNT", _STEP))
            for kid, raw in schema.pairs(batch):
                if _NO_RULES in raw and f"tk:{kid}" not in limited:
                    continue  # nothing of it to check: not decoded
                info, _ = schema.decode_token(raw)
                if info.revoked is None:
                    owned += [(f"{ws} token {info.key_id}", rule) for rule in info.rules]
                    if f"tk:{info.key_id}" in limited:
                        live[f"tk:{info.key_id}"] = f"token {info.key_id}"
            if schema.text(cursor) == "0":
                break
        for owner, rule in sorted(owned, key=lambda pair: pair[0] != ws):
            try:
                catalog.check_rule(rule)
            except CatalogError:
                rules.append(f"{owner}: {rule.encode()}")
        for owner, raw in sorted(limited.items()):
            try:
                found = Limits.decode(raw)
            except LimitError:
                continue  # written past the checks: shown nowhere, counted nowhere
            if owner in live:
                windows = found.as_dict()
                limits += [
                    f"{ws} {live[owner]}: {action} {', '.join(str(w) for w in windows[action])}"
                    for action in dead_actions(found, catalog)
                ]
    return rules, limits


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
