"""``keystile rules`` and ``keystile tokens``: what keys may do, and named tokens."""

from __future__ import annotations

import time

import click

from keystile.cli.base import ACTOR, main, store_of, when
from keystile.cli.limits import scope_rows
from keystile.cli.usage import echo_impact, impacts
from keystile.durations import parse_duration
from policies import Rule
from policies.limits.rate_limits import KEY_SCOPE, Limits
from policies.listing import MAX_PAGE, TOKEN_STATUSES, TokenQuery


# -- rules --------------------------------------------------------------------------------
@main.group()
def rules() -> None:
    """Blacklist rules: what the publishable key may not do."""


@rules.command("add")
@click.argument("workspace_id")
@click.argument("module")
@click.argument("functionality")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Save nothing: show what the rule would have refused in the last 24h and 7d.",
)
@click.pass_context
def rules_add(
    ctx: click.Context, workspace_id: str, module: str, functionality: str, dry_run: bool
) -> None:
    """Block MODULE FUNCTIONALITY ('*' for the whole module)."""
    rule = Rule(module, functionality)
    if dry_run:
        echo_impact(rule, impacts(store_of(ctx), workspace_id, rule))
        return
    added = store_of(ctx).add_rule(workspace_id, rule, actor=ACTOR)
    click.echo(f"blocked {rule}" if added else f"{rule} was already blocked")


@rules.command("remove")
@click.argument("workspace_id")
@click.argument("module")
@click.argument("functionality")
@click.pass_context
def rules_remove(ctx: click.Context, workspace_id: str, module: str, functionality: str) -> None:
    rule = Rule(module, functionality)
    if not store_of(ctx).remove_rule(workspace_id, rule, actor=ACTOR):
        raise click.ClickException(f"no rule {rule} in {workspace_id}")
    click.echo(f"unblocked {rule}")


@rules.command("list")
@click.argument("workspace_id")
@click.pass_context
def rules_list(ctx: click.Context, workspace_id: str) -> None:
    for rule in store_of(ctx).list_rules(workspace_id):
        click.echo(str(rule))


# -- tokens -------------------------------------------------------------------------------
@main.group()
def tokens() -> None:
    """Workspace tokens: named, many per workspace, shown once."""


@tokens.command("create")
@click.argument("workspace_id")
@click.argument("name")
@click.option("--expires-in", help="Lifetime, e.g. 30d, 12h (default: never expires).")
@click.option(
    "--block",
    "blocks",
    multiple=True,
    metavar="MODULE:FUNCTIONALITY",
    help="A rule for this token (repeatable).",
)
@click.option(
    "--limit",
    "limit_texts",
    multiple=True,
    metavar="COUNT/WINDOW",
    help="A rate limit on the whole token, e.g. 100/min (repeatable: 100/min --limit 10000/day).",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="SCOPE",
    help="Allow only this action: module.functionality, module:* or module:read (repeatable).",
)
@click.option(
    "--network",
    "networks",
    multiple=True,
    metavar="CIDR",
    help="Allow requests from this range only, e.g. 203.0.113.0/24 (repeatable).",
)
@click.pass_context
def tokens_create(
    ctx: click.Context,
    workspace_id: str,
    name: str,
    expires_in: str | None,
    blocks: tuple[str, ...],
    limit_texts: tuple[str, ...],
    scopes: tuple[str, ...],
    networks: tuple[str, ...],
) -> None:
    # An empty --expires-in is a mistake, not "never": parse_duration refuses it.
    expires = time.time() + parse_duration(expires_in) if expires_in is not None else None
    # Checked before anything is stored; the token and its limits are then one write.
    token_limits = Limits.of({KEY_SCOPE: limit_texts}) if limit_texts else None
    created = store_of(ctx).create_token(
        workspace_id,
        name,
        actor=ACTOR,
        expires=expires,
        rules=[Rule.decode(b) for b in blocks],
        limits=token_limits,
        scopes=scopes or None,
        networks=networks or None,
    )
    click.echo(f"token {created.info.key_id} ({created.info.name}), shown once:")
    click.echo(created.token)
    if scopes or networks:
        allowed = (*(created.info.scopes or ()), *(created.info.networks or ()))
        click.echo(f"allowed only {', '.join(allowed)}")
    if token_limits:
        click.echo(f"limited to {scope_rows(token_limits)[0][1]}")


@tokens.command("list")
@click.argument("workspace_id")
@click.option("--status", type=click.Choice(TOKEN_STATUSES), help="Only tokens in this state.")
@click.option(
    "--name", default="", help="Only names with a word starting so (or key ids starting so)."
)
@click.option(
    "--limit", default=100, show_default=True, type=click.IntRange(1, MAX_PAGE), help="At most."
)
@click.pass_context
def tokens_list(
    ctx: click.Context, workspace_id: str, status: str | None, name: str, limit: int
) -> None:
    """Tokens, newest first (revoked and expired ones too, unless --status says); with a
    name, those with a word or key id starting with it, by name."""
    now, store = time.time(), store_of(ctx)
    page = store.token_page(workspace_id, TokenQuery(name, status, 0, limit))
    policy = store.lifetime.policy(workspace_id)  # tokens outside it are marked
    for t in page.items:
        outside = policy.violation(t, now)
        click.echo(
            f"{t.key_id}  {t.status(now):8} created {when(t.created)}  "
            f"expires {when(t.expires)}  last used {when(t.last_used)}  {t.name}"
            + (f"  [out of policy: {outside}]" if outside else "")
            + (f"  scopes {','.join(t.scopes)}" if t.scopes is not None else "")
            + (f"  networks {','.join(t.networks)}" if t.networks is not None else "")
        )
    if page.total > len(page.items):
        click.echo(f"({len(page.items)} of {page.total} shown: raise --limit)", err=True)
    if page.unsearched:
        click.echo(
            f"({page.unsearched} more tokens matching the name not checked for the status: "
            "narrow the name)",
            err=True,
        )


@tokens.command("index")
@click.argument("workspace_ids", nargs=-1)
@click.pass_context
def tokens_index(ctx: click.Context, workspace_ids: tuple[str, ...]) -> None:
    """Build the token filters' indexes (every workspace unless named): once, after an
    upgrade from a version without them; otherwise the first filtered list builds them."""
    store = store_of(ctx)
    for ws in workspace_ids or [w.workspace_id for w in store.list_workspaces()]:
        started = time.perf_counter()
        held = store.index_tokens(ws)
        click.echo(f"{ws}: {held:,} tokens indexed in {time.perf_counter() - started:.1f} s")


@tokens.command("revoke")
@click.argument("workspace_id")
@click.argument("key_id")
@click.pass_context
def tokens_revoke(ctx: click.Context, workspace_id: str, key_id: str) -> None:
    info = store_of(ctx).revoke_token(workspace_id, key_id, actor=ACTOR)
    click.echo(f"revoked {info.key_id} ({info.name})")
