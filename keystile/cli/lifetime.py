"""``keystile policy`` (a workspace's token lifetime policy) and ``keystile tokens unused``
(tokens no one has used for N days, and revoking exactly those shown)."""

from __future__ import annotations

import click

from keystile.cli.access import tokens
from keystile.cli.base import ACTOR, main, store_of, when
from policies.lifetime import MAX_DAYS, LifetimePolicy
from policies.listing import MAX_PAGE
from policies.operations.token_activity import activity

DAYS = click.IntRange(1, MAX_DAYS)


@main.group()
def policy() -> None:
    """A workspace's token lifetime policy: the longest lifetime of a new token, and
    whether tokens must expire. Existing tokens outside it are listed as out of policy."""


@policy.command("set")
@click.argument("workspace_id")
@click.option(
    "--max-token-days",
    type=DAYS,
    help="New tokens must expire within this many days (1-3650); implies an expiry.",
)
@click.option("--no-max-token-days", is_flag=True, help="Remove the maximum.")
@click.option(
    "--require-expiry/--no-require-expiry",
    default=None,
    help="Whether new tokens must expire (a maximum requires it anyway).",
)
@click.pass_context
def policy_set(
    ctx: click.Context,
    workspace_id: str,
    max_token_days: int | None,
    no_max_token_days: bool,
    require_expiry: bool | None,
) -> None:
    """Change the policy; what is not given stays as it is."""
    if max_token_days is not None and no_max_token_days:
        raise click.UsageError("give --max-token-days N or --no-max-token-days, not both")
    if max_token_days is None and not no_max_token_days and require_expiry is None:
        raise click.UsageError(
            "say what to change: --max-token-days N, --no-max-token-days, "
            "--require-expiry or --no-require-expiry"
        )
    store = store_of(ctx)
    current = store.lifetime.policy(workspace_id)
    days = None if no_max_token_days else (max_token_days or current.max_days)
    expiry = current.require_expiry if require_expiry is None else require_expiry
    wanted = LifetimePolicy(days, expiry)
    _, changed = store.lifetime.set_policy(workspace_id, wanted, actor=ACTOR)
    click.echo(f"token lifetime policy of {workspace_id}: {wanted.describe()}")
    if not changed:
        click.echo("(unchanged)")


@policy.command("show")
@click.argument("workspace_id")
@click.pass_context
def policy_show(ctx: click.Context, workspace_id: str) -> None:
    found = store_of(ctx).lifetime.policy(workspace_id)
    click.echo(f"token lifetime policy of {workspace_id}: {found.describe()}")
    if not found.damaged:
        maximum = found.max_days
        click.echo(f"max token days: {maximum if maximum is not None else 'none'}")
        click.echo(f"require expiry: {'yes' if found.expiry_required else 'no'}")


@tokens.command("unused")
@click.argument("workspace_id")
@click.option("--days", type=DAYS, required=True, help="Unused for at least this many days.")
@click.option(
    "--limit", default=100, show_default=True, type=click.IntRange(1, MAX_PAGE), help="At most."
)
@click.option("--revoke", is_flag=True, help="Revoke the tokens listed (after a confirmation).")
@click.option("--yes", is_flag=True, help="With --revoke: do not ask for the confirmation.")
@click.pass_context
def tokens_unused(
    ctx: click.Context, workspace_id: str, days: int, limit: int, revoke: bool, yes: bool
) -> None:
    """Live tokens not used for --days days (never used: since created), the longest idle
    first. --revoke revokes exactly those listed, each checked again as it goes."""
    if yes and not revoke:
        raise click.UsageError("--yes confirms --revoke: give both, or neither")
    store = store_of(ctx)
    page = store.lifetime.unused(workspace_id, days, limit=limit)
    for t in page.items:
        click.echo(
            f"{t.key_id}  idle since {when(activity(t))}  created {when(t.created)}  "
            f"last used {when(t.last_used)}  {t.name}"
        )
    if not page.items:
        click.echo(f"no token of {workspace_id} is unused for {days} days")
    if page.total > len(page.items):
        more = page.total - len(page.items)
        click.echo(f"({len(page.items)} of {page.total} shown; {more} more)", err=True)
    if page.partial:
        click.echo("(the index had stale entries: run again to see further)", err=True)
    if not revoke or not page.items:
        return
    if not yes:
        click.confirm(f"revoke these {len(page.items)} tokens?", abort=True, err=True)
    done = store.lifetime.revoke_unused(
        workspace_id, [t.key_id for t in page.items], days, actor=ACTOR
    )
    for t in done.revoked:
        click.echo(f"revoked {t.key_id} ({t.name})")
    for key_id, why in done.skipped:
        click.echo(f"skipped {key_id}: {why}")
