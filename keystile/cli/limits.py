"""``keystile limits``: how many requests each key may make, as a whole and per action.

Limits belong to an owner (:mod:`policies.limits.rate_limits`): the publishable key, the SDK
key or one token, so they outlive rotation and rolling. ``set`` replaces the windows of one
scope (the whole key, or one ``--action``), ``remove`` drops them, ``list`` shows every
key's.
"""

from __future__ import annotations

import json
from typing import Any

import click

from keystile.cli.base import ACTOR, main, store_of
from policies import PolicyStore
from policies.limits.rate_limits import KEY_SCOPE, Limits, Window, dead_actions, owner_for
from policies.listing import TokenQuery
from policies.times import is_time

NO_LIMITS = "none"
DEAD = "(dead)"


key_option = click.option(
    "--key",
    required=True,
    metavar="publishable|sdk|TOKEN_ID",
    help="Whose limits: the publishable key, the SDK access key or a token (its key id).",
)
action_option = click.option(
    "--action",
    metavar="MODULE.FUNCTIONALITY",
    help="One action of the key (default: the whole key, every action counted).",
)


@main.group()
def limits() -> None:
    """Rate limits: requests per window, for a whole key or per action."""


@limits.command("set")
@click.argument("workspace_id")
@click.argument("windows", nargs=-1, required=True, metavar="COUNT/WINDOW...")
@key_option
@action_option
@click.pass_context
def limits_set(
    ctx: click.Context, workspace_id: str, windows: tuple[str, ...], key: str, action: str | None
) -> None:
    """Replace the limits of the key (or of its --action) with COUNT/WINDOW...

    e.g. 100/min 10000/day; windows in s, min, h or day, with a count if needed (1000/10s).
    """
    store = store_of(ctx)
    owner = _owner(store, workspace_id, key)
    scope = KEY_SCOPE if action is None else action
    now = store.limits.replace(workspace_id, owner, windows, scope=scope, actor=ACTOR)
    _echo_now(owner, now)


@limits.command("remove")
@click.argument("workspace_id")
@key_option
@action_option
@click.pass_context
def limits_remove(ctx: click.Context, workspace_id: str, key: str, action: str | None) -> None:
    """Lift the limits of the key as a whole (or of its --action)."""
    store = store_of(ctx)
    owner = _owner(store, workspace_id, key)
    scope = KEY_SCOPE if action is None else action
    _echo_now(owner, store.limits.remove(workspace_id, owner, scope=scope, actor=ACTOR))


def not_revoked(store: PolicyStore, ws: str) -> int:
    """How many tokens are not revoked (two O(1) reads of the status indexes)."""
    pages = (store.token_page(ws, TokenQuery(status=s, limit=1)) for s in ("active", "expired"))
    return sum(page.total for page in pages)


@limits.command("list")
@click.argument("workspace_id")
@click.option("--json", "as_json", is_flag=True, help="Every key's limits, as one JSON document.")
@click.pass_context
def limits_list(ctx: click.Context, workspace_id: str, as_json: bool) -> None:
    """Every key's limits: the publishable key, the SDK key and each token not revoked that
    has limits (how many others have none is counted, not listed)."""
    store = store_of(ctx)
    found = store.limits.by_owner(workspace_id)
    keys: list[tuple[str, str | None, Limits]] = [
        ("publishable", None, found.pop("pk", Limits())),
        ("sdk", None, found.pop("sk", Limits())),
    ]
    limited = [o.removeprefix("tk:") for o in found if o.startswith("tk:")]
    tokens = store.tokens_by_id(workspace_id, limited)
    for token in sorted(tokens, key=lambda t: (-t.created if is_time(t.created) else 0, t.key_id)):
        if token.revoked is None:
            keys.append((token.key_id, token.name, found.pop(f"tk:{token.key_id}")))
    others = not_revoked(store, workspace_id) - (len(keys) - 2)
    # A token's limits go with it when it is revoked; anything else left is shown, not hidden.
    keys += [(owner.removeprefix("tk:"), None, rest) for owner, rest in found.items()]
    catalog = store.load_catalog()  # an action it lacks is a dead limit: never counted
    dead = {k: dead_actions(lim, catalog) for k, _, lim in keys}
    if as_json:
        document = {
            "workspace": workspace_id,
            "keys": [
                {"key": k, "name": name, **_as_json(lim), "dead_actions": list(dead[k])}
                for k, name, lim in keys
            ],
            "tokens_without_limits": others,
        }
        click.echo(json.dumps(document, indent=2))
        return
    rows = [["key", "name", "scope", "limits"]]
    for k, name, lim in keys:
        rows += [[k, name or "", scope, text] for scope, text in scope_rows(lim, dead[k])]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if others:
        click.echo(f"({others:,} other tokens not revoked: no limits of their own)")
    if any(dead.values()):
        click.echo(
            f"{DEAD}: the catalog has no such action (a forced `keystile catalog load`), so "
            f"the limit counts nothing; lift it with `keystile limits remove {workspace_id} "
            "--key KEY --action ACTION`"
        )


def scope_rows(found: Limits, dead: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(scope, its windows) per scope, the whole key first; one ``none`` row when unlimited;
    a ``dead`` action (not in the catalog) marked."""
    if not found:
        return [("-", NO_LIMITS)]
    # Scopes are sorted, and "*" (the whole key) sorts before every action.
    return [
        (
            "whole key" if scope == KEY_SCOPE else f"{scope} {DEAD}" if scope in dead else scope,
            ", ".join(str(w) for w in windows),
        )
        for scope, windows in found.scopes
    ]


def _owner(store: PolicyStore, ws: str, key: str) -> str:
    store.workspace(ws)  # an unknown workspace says so, whatever --key names
    return owner_for(key)


def _echo_now(owner: str, now: Limits) -> None:
    what = {"pk": "the publishable key", "sk": "the SDK key"}.get(owner, f"token {owner[3:]}")
    if not now:
        click.echo(f"{what} now has no limits")
        return
    click.echo(f"{what} is now limited to:")
    for scope, text in scope_rows(now):
        click.echo(f"  {scope}: {text}")


def _windows(found: tuple[Window, ...]) -> list[dict[str, Any]]:
    return [{"limit": str(w), "quota": w.quota, "seconds": w.seconds} for w in found]


def _as_json(found: Limits) -> dict[str, Any]:
    scopes = found.as_dict()
    return {
        "whole_key": _windows(scopes.pop(KEY_SCOPE, ())),
        "actions": {action: _windows(ws) for action, ws in sorted(scopes.items())},
    }
